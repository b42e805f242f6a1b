"""Read models for people and runbooks, in Azure Table Storage (Azurite locally).

Every row's PartitionKey starts with the tenant, so a query can never cross tenants.
"""

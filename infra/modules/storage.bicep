// The tenant's storage account: the Durable task hub (queues, tables, leases), the read-model
// tables, the replica page blobs the agent writes through per-blob SAS, and the container the
// Function App's code package is deployed to.
// Shared-key access is off: every caller authenticates with Entra ID, and the SAS the agent
// gets is a user-delegation SAS (azureclients/sas.py), so no account key is ever needed.

@description('Azure region of the account.')
param location string

@description('Globally unique name, 3-24 lower-case letters and digits.')
@minLength(3)
@maxLength(24)
param accountName string

@description('Replication of the account; replicas are the DR copy, so zone redundancy is the default.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string = 'Standard_ZRS'

@description('Blob container that holds the Function App code package.')
param deploymentContainerName string

@description('Blob container where Event Grid puts alert events it could not deliver.')
param alertDeadLetterContainerName string = 'alerts-deadletter'

@description('Days a deleted blob or container can be restored (protects replicas from mistakes).')
@minValue(1)
@maxValue(365)
param softDeleteDays int = 7

@description('Tags put on every resource.')
param tags object = {}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: accountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource alertDeadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: alertDeadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

output accountName string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output tableEndpoint string = account.properties.primaryEndpoints.table
output queueEndpoint string = account.properties.primaryEndpoints.queue
output deploymentContainerName string = deploymentContainer.name
output alertDeadLetterContainerName string = alertDeadLetterContainer.name

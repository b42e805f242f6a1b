"""Triggers: HTTP (runbook API), Service Bus (agent events), Event Grid (alerts), timers."""

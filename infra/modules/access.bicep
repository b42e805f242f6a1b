// What the Function App's system-assigned identity may do, each grant scoped to the one
// resource it is needed on (never the resource group or subscription):
// - storage account: Blob Data Contributor (replicas, task hub leases, code package),
//   Blob Delegator (user-delegation key for the agent's per-blob SAS), Queue and Table Data
//   Contributor (Durable task hub, read models);
// - Service Bus: Receiver on the sites' events queues only, Sender on the dead-letter queue and the
//   commands topic only;
// - Recovery Services vault: Site Recovery Contributor (the asr provider);
// - Application Insights: Monitoring Metrics Publisher (Entra-authenticated telemetry).
// Virtual Machine Contributor on the recovery resource group lives in recovery-access.bicep,
// deployed at that resource group.

@description('Principal id of the Function App\'s system-assigned identity.')
param principalId string

@description('The tenant storage account.')
param storageAccountName string

@description('The tenant Service Bus namespace.')
param serviceBusNamespaceName string

@description('The sites\' events queues (one per site).')
param eventsQueueNames string[]

@description('Queue the app writes invalid events to.')
param deadLetterQueueName string

@description('Topic the app sends commands to.')
param commandsTopicName string

@description('The Recovery Services vault.')
param vaultName string

@description('The Application Insights component.')
param appInsightsName string

// Built-in role definition ids (the same in every Entra tenant).
var roles = {
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDelegator: 'db58b8e5-c6ad-4a2a-8342-4190687cbf4a'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  siteRecoveryContributor: '6670b86e-a3f7-4917-ac9b-5d6ab1be4567'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

var storageRoles = [
  roles.storageBlobDataContributor
  roles.storageBlobDelegator
  roles.storageQueueDataContributor
  roles.storageTableDataContributor
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName

  resource deadLetterQueue 'queues' existing = {
    name: deadLetterQueueName
  }

  resource commandsTopic 'topics' existing = {
    name: commandsTopicName
  }
}

resource eventsQueues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = [
  for name in eventsQueueNames: {
    parent: namespace
    name: name
  }
]

resource vault 'Microsoft.RecoveryServices/vaults@2024-04-01' existing = {
  name: vaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource storageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in storageRoles: {
    name: guid(storage.id, principalId, role)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource receiveEvents 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (name, i) in eventsQueueNames: {
    name: guid(eventsQueues[i].id, principalId, roles.serviceBusDataReceiver)
    scope: eventsQueues[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource sendDeadLetters 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace::deadLetterQueue.id, principalId, roles.serviceBusDataSender)
  scope: namespace::deadLetterQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource sendCommands 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace::commandsTopic.id, principalId, roles.serviceBusDataSender)
  scope: namespace::commandsTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource driveSiteRecovery 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, roles.siteRecoveryContributor)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.siteRecoveryContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource publishTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// The alert path. Azure Monitor has no Event Grid system event for its alerts, so:
//   alert rule -> this action group -> secure (Entra-authenticated) webhook posting the common
//   alert schema -> an Event Grid custom topic whose custom input schema maps it onto the
//   Event Grid schema -> the Function App's Event Grid trigger.
// Mapping: id <- data.essentials.alertId, subject <- data.essentials.alertRule,
// eventType <- data.essentials.monitorCondition (Fired / Resolved),
// eventTime <- data.essentials.firedDateTime.
// The topic takes no access keys (disableLocalAuth): the action group's first-party identity
// publishes with an Entra token and holds EventGrid Data Sender on this topic alone.
// Dead letters: an event the function's host refuses (400, not retried) or that is still
// undelivered when the retry policy runs out lands in the storage account's dead-letter
// container, written with the topic's own identity (the account takes no shared keys). Events
// the function reads but cannot use are kept by the function itself (docs/alerts.md).

@description('Azure region of the custom topic.')
param location string

@description('Name of the Event Grid custom topic that receives alerts.')
param topicName string

@description('Name of the action group that alert rules use.')
param actionGroupName string

@description('Short name shown in alert notifications (at most 12 characters).')
@maxLength(12)
param actionGroupShortName string

@description('Object id, in this Entra tenant, of the "Azure Event Grid" service principal (app id 4962773b-9cdb-44cf-a8bf-237846a00ab7): the audience of the secure webhook.')
param eventGridServicePrincipalObjectId string

@description('Object id, in this Entra tenant, of the "AzNS AAD Webhook" service principal (app id 461e8683-5575-4561-ac7f-899cc907d62a) that action groups call secure webhooks as. Empty: no publish role is granted (alerts cannot reach the topic).')
param actionGroupServicePrincipalObjectId string = ''

@description('Resource id of the Function App that handles alerts.')
param functionAppId string

@description('Name of the Event Grid-triggered function (the alert handler).')
param alertFunctionName string = 'alerts'

@description('Create the event subscription. Event Grid checks that the function exists, so this is false until the code is published (docs/deploy.md).')
param subscribeFunction bool = false

@description('Name of the storage account (in this resource group) whose container keeps dead-lettered alert events.')
param deadLetterStorageAccountName string

@description('Blob container of dead-lettered alert events (the storage module creates it).')
param deadLetterContainerName string = 'alerts-deadletter'

@description('Tags put on every resource.')
param tags object = {}

var eventGridDataSender = 'd5a91429-5739-47e2-a06b-3470a27159e7'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource deadLetterAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: deadLetterStorageAccountName
}

resource deadLetterBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: deadLetterAccount
  name: 'default'
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: deadLetterBlobs
  name: deadLetterContainerName
}

resource topic 'Microsoft.EventGrid/topics@2022-06-15' = {
  name: topicName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    inputSchema: 'CustomEventSchema'
    inputSchemaMapping: {
      inputSchemaMappingType: 'Json'
      properties: {
        id: {
          sourceField: 'data.essentials.alertId'
        }
        eventTime: {
          sourceField: 'data.essentials.firedDateTime'
        }
        subject: {
          sourceField: 'data.essentials.alertRule'
          defaultValue: 'unnamed-alert-rule'
        }
        eventType: {
          sourceField: 'data.essentials.monitorCondition'
          defaultValue: 'Fired'
        }
        dataVersion: {
          defaultValue: '1.0'
        }
      }
    }
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: actionGroupShortName
    enabled: true
    webhookReceivers: [
      {
        name: 'event-grid-alerts'
        serviceUri: topic.properties.endpoint
        useCommonAlertSchema: true
        useAadAuth: true
        objectId: eventGridServicePrincipalObjectId
        identifierUri: 'https://eventgrid.azure.net'
        tenantId: tenant().tenantId
      }
    ]
  }
}

resource publisherRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(actionGroupServicePrincipalObjectId)) {
  name: guid(topic.id, actionGroupServicePrincipalObjectId, eventGridDataSender)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
    principalId: actionGroupServicePrincipalObjectId
    principalType: 'ServicePrincipal'
    description: 'Action group secure webhook publishes alerts to this topic only.'
  }
}

resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, deadLetterContainer.id, storageBlobDataContributor)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
    description: 'The alert topic writes the events it could not deliver to this container only.'
  }
}

resource toFunction 'Microsoft.EventGrid/topics/eventSubscriptions@2022-06-15' = if (subscribeFunction) {
  parent: topic
  name: 'alerts-to-function'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${alertFunctionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterAccount.id
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
  dependsOn: [
    deadLetterWriter
  ]
}

output topicName string = topic.name
output topicEndpoint string = topic.properties.endpoint
output actionGroupId string = actionGroup.id

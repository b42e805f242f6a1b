// Azure-side availability changes: the Health Resources system topic (Azure Resource
// Notifications) delivers AvailabilityStatusChanged / ResourceAnnotated for the subscription's
// VMs to the same Event Grid trigger as alerts.
// A subscription can hold only one system topic per source and type, so a second tenant
// deployed into the same subscription reuses the first one's (createSystemTopic = false) and
// only adds its own event subscription. Deployed at the resource group that holds the topic.

@description('Name of the Health Resources system topic (existing one when createSystemTopic is false).')
param systemTopicName string

@description('Create the system topic; false when one already exists for this subscription.')
param createSystemTopic bool = true

@description('Name of this tenant\'s event subscription on the system topic.')
param subscriptionName string

@description('Resource id of the Function App that handles health events.')
param functionAppId string

@description('Name of the Event Grid-triggered function.')
param alertFunctionName string = 'alerts'

@description('Create the event subscription (false until the function code is published).')
param subscribeFunction bool = false

@description('Tags put on every resource.')
param tags object = {}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (createSystemTopic) {
  name: systemTopicName
  location: 'global'
  tags: tags
  properties: {
    source: subscription().id
    topicType: 'Microsoft.ResourceNotifications.HealthResources'
  }
}

resource toFunction 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (subscribeFunction) {
  name: '${systemTopicName}/${subscriptionName}'
  dependsOn: [
    systemTopic
  ]
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${alertFunctionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged'
        'Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated'
      ]
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

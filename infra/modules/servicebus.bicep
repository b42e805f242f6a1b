// Service Bus for the agent link. Entity names and behaviour mirror the local broker's
// devhost/servicebus/entities.json (a test keeps the two in step):
// - `agent-events-<site>`: agent -> control plane, one queue per site, so the queue an event
//   arrives on says which site sent it (only that site's agent may send to it: agents.bicep;
//   the app reads every site's queue: AGENT_SITES). Sessions (session id = VM id keeps one VM's
//   events in order), duplicate detection (message id = event id), expired messages
//   dead-lettered, a bounded delivery count so a poison message ends in the dead-letter
//   sub-queue.
// - `agent-events-deadletter`: where the app puts events that fail validation, with the reason
//   (azureclients/deadletter.py); no sessions, since a rejected event may carry no usable session id.
// - `agent-commands`: control plane -> agents, one subscription per site, filtered on the
//   application property `site` (contracts/commands.py), so a site only ever sees its own.
// Local (SAS key) auth is off: only Entra identities with data roles can send or receive.

@description('Azure region of the namespace.')
param location string

@description('Globally unique namespace name, 6-50 characters.')
@minLength(6)
@maxLength(50)
param namespaceName string

@description('Standard is enough (topics, sessions, duplicate detection); Premium isolates capacity.')
@allowed([
  'Standard'
  'Premium'
])
param skuName string = 'Standard'

@description('On-premises sites (one agent each); each gets its own events queue and commands subscription.')
@minLength(1)
param siteNames string[]

@description('Deliveries before a message goes to the dead-letter sub-queue.')
@minValue(1)
@maxValue(100)
param maxDeliveryCount int = 10

@description('How long a message id is remembered for duplicate detection (ISO 8601).')
param duplicateDetectionWindow string = 'PT10M'

@description('How long an unconsumed event or command lives before it expires (ISO 8601).')
param messageTimeToLive string = 'P14D'

@description('Tags put on every resource.')
param tags object = {}

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuName
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

// The queue of a site is this prefix and the site's name (contracts/events.py events_queue).
var eventsQueuePrefix = 'agent-events-'

resource siteEventQueues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [
  for site in siteNames: {
    parent: namespace
    name: '${eventsQueuePrefix}${site}'
    properties: {
      requiresSession: true
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
      deadLetteringOnMessageExpiration: true
      maxDeliveryCount: maxDeliveryCount
      lockDuration: 'PT1M'
      defaultMessageTimeToLive: messageTimeToLive
    }
  }
]

resource agentEventsDeadletter 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: 'agent-events-deadletter'
  properties: {
    requiresSession: false
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    deadLetteringOnMessageExpiration: true
    maxDeliveryCount: maxDeliveryCount
    defaultMessageTimeToLive: messageTimeToLive
  }
}

resource agentCommands 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = {
  parent: namespace
  name: 'agent-commands'
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    defaultMessageTimeToLive: messageTimeToLive
    supportOrdering: true
  }
}

// Commands carry session id = VM id, but, as on the local broker, the subscriptions are not
// session-enabled: the agent reads its site's commands with a plain receiver. Turning sessions
// on means changing the agent's receiver, devhost/servicebus/entities.json and this together.
resource siteSubscriptions 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = [
  for site in siteNames: {
    parent: agentCommands
    name: site
    properties: {
      requiresSession: false
      deadLetteringOnMessageExpiration: true
      deadLetteringOnFilterEvaluationExceptions: true
      maxDeliveryCount: maxDeliveryCount
      lockDuration: 'PT1M'
      defaultMessageTimeToLive: messageTimeToLive
    }
  }
]

// A subscription made through ARM starts with a `$Default` rule that matches everything;
// writing the site filter under that same name replaces it, so no other site's command leaks.
resource siteFilters 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2024-01-01' = [
  for (site, i) in siteNames: {
    parent: siteSubscriptions[i]
    name: '$Default'
    properties: {
      filterType: 'CorrelationFilter'
      correlationFilter: {
        properties: {
          site: site
        }
      }
    }
  }
]

output namespaceName string = namespace.name
// serviceBusEndpoint is https://<name>.servicebus.<cloud suffix>:443/; the host is what SDKs take.
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '/')[2], ':')[0]
output eventsQueueNames string[] = [for (site, i) in siteNames: siteEventQueues[i].name]
output deadLetterQueueName string = agentEventsDeadletter.name
output commandsTopicName string = agentCommands.name
output siteSubscriptionNames string[] = [for (site, i) in siteNames: siteSubscriptions[i].name]

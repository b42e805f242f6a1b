// The identities of the on-premises agents, one per site, and what each may do:
// Azure Service Bus Data Sender on its own site's events queue (`agent-events-<site>`: the queue
// says who sent an event, so no site can speak for another), and Data Receiver on its own
// site's `agent-commands` subscription - nothing else (the replica blobs are reached only
// through the per-blob SAS the control plane issues).
//
// An on-premises machine cannot get tokens for a user-assigned managed identity by itself, so
// a site either:
// - uses the identity created here through workload identity federation (set
//   federatedIssuer: the agent presents a token from that issuer whose subject is
//   <federatedSubjectPrefix><site>), or
// - brings its own principal in `agentPrincipalId` (the managed identity of an Azure
//   Arc-enabled server, or an Entra app registration's service principal with a certificate);
//   then no identity is created and the roles go to that principal.

@description('Azure region of the identities.')
param location string

@description('Prefix of the identity names; each is <prefix>-<site>.')
param identityNamePrefix string

@description('Sites: [{ name: string, agentPrincipalId?: string }].')
param sites object[]

@description('The tenant Service Bus namespace.')
param serviceBusNamespaceName string

@description('Each site\'s own events queue, in the order of `sites`.')
param eventsQueueNames string[]

@description('Topic whose per-site subscriptions carry commands.')
param commandsTopicName string

@description('OIDC issuer the agents\' tokens come from; empty: no federated credential.')
param federatedIssuer string = ''

@description('Subject of a site\'s federated token is this prefix followed by the site name.')
param federatedSubjectPrefix string = 'dr-agent:'

@description('Tags put on every resource.')
param tags object = {}

var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName

  resource commandsTopic 'topics' existing = {
    name: commandsTopicName
  }
}

resource siteQueues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = [
  for name in eventsQueueNames: {
    parent: namespace
    name: name
  }
]

resource siteSubscriptions 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' existing = [
  for site in sites: {
    parent: namespace::commandsTopic
    name: site.name
  }
]

resource identities 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = [
  for site in sites: if (empty(site.?agentPrincipalId ?? '')) {
    name: '${identityNamePrefix}-${site.name}'
    location: location
    tags: tags
  }
]

resource federation 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = [
  for (site, i) in sites: if (empty(site.?agentPrincipalId ?? '') && !empty(federatedIssuer)) {
    parent: identities[i]
    name: 'agent'
    properties: {
      issuer: federatedIssuer
      subject: '${federatedSubjectPrefix}${site.name}'
      audiences: [
        'api://AzureADTokenExchange'
      ]
    }
  }
]

var principalIds = [
  for (site, i) in sites: empty(site.?agentPrincipalId ?? '')
    ? identities[i].properties.principalId
    : site.agentPrincipalId
]

resource sendEvents 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (site, i) in sites: {
    name: guid(siteQueues[i].id, 'agent', site.name, serviceBusDataSender)
    scope: siteQueues[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
      principalId: principalIds[i]
      principalType: 'ServicePrincipal'
      description: 'Agent of site ${site.name} sends events to its own queue only.'
    }
  }
]

resource receiveOwnCommands 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (site, i) in sites: {
    name: guid(siteSubscriptions[i].id, 'agent', site.name, serviceBusDataReceiver)
    scope: siteSubscriptions[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
      principalId: principalIds[i]
      principalType: 'ServicePrincipal'
      description: 'Agent of site ${site.name} receives its own commands only.'
    }
  }
]

output agents object[] = [
  for (site, i) in sites: {
    site: site.name
    principalId: principalIds[i]
    clientId: empty(site.?agentPrincipalId ?? '') ? identities[i].properties.clientId : ''
  }
]

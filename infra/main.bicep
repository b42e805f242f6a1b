// One tenant's DR control plane: Function App, storage, Service Bus, alert path, Recovery
// Services vault, monitoring, role assignments and the on-premises agents' identities.
// Deploy into an empty resource group per tenant; the parameters of a tenant live in
// tenants/<tenant>.bicepparam. See docs/deploy.md.
targetScope = 'resourceGroup'

// ---------------------------------------------------------------- parameters

@description('Short tenant name, used in resource names and as the tenant of the runbook API.')
@minLength(2)
@maxLength(12)
param tenantName string

@description('Azure region of the control plane (and the vault: the region VMs fail over to).')
param location string = resourceGroup().location

@description('Flex Consumption (default) or Elastic Premium hosting.')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string = 'FlexConsumption'

@description('Upper bound of Function App instances.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

type siteConfig = {
  @description('Site name, as the agent sends it in `site` (letters, digits, hyphens).')
  @minLength(1)
  @maxLength(50)
  name: string

  @description('Existing principal of the agent (Arc-enabled server identity or Entra app service principal object id). Omitted: a user-assigned identity is created for the site.')
  agentPrincipalId: string?
}

@description('On-premises sites, one agent each.')
@minLength(1)
param sites siteConfig[]

@description('Existing resource group where failed-over VMs are created.')
param recoveryResourceGroupName string

@description('Region failed-over VMs are created in (the vault\'s region by default).')
param recoveryLocation string = location

@description('Existing virtual network in the recovery resource group that failed-over VMs join.')
param recoveryVirtualNetworkName string

@description('Subnet of recoveryVirtualNetworkName for failed-over VMs.')
param recoverySubnetName string = 'default'

@description('Existing isolated virtual network in the recovery resource group for test failovers (no peering or route to production).')
param testFailoverVirtualNetworkName string

@description('Subnet of testFailoverVirtualNetworkName for test failovers.')
param testFailoverSubnetName string = 'default'

@description('Storage redundancy for the task hub and the replicas.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSku string = 'Standard_ZRS'

@description('Service Bus tier.')
@allowed([
  'Standard'
  'Premium'
])
param serviceBusSku string = 'Standard'

@description('Deliveries of an agent event or command before it is dead-lettered.')
@minValue(1)
@maxValue(100)
param maxDeliveryCount int = 10

@description('Name of the Event Grid-triggered function that handles alerts and health events.')
param alertFunctionName string = 'alerts'

@description('Subscribe the alert function to the alert topic and Health Resources. Event Grid refuses a subscription to a function that does not exist yet: deploy with false, publish the code, deploy again with true.')
param subscribeAlertHandlers bool = false

@description('Object id of the "Azure Event Grid" service principal in this Entra tenant (az ad sp show --id 4962773b-9cdb-44cf-a8bf-237846a00ab7 --query id -o tsv).')
param eventGridServicePrincipalObjectId string

@description('Object id of the "AzNS AAD Webhook" service principal in this Entra tenant (az ad sp show --id 461e8683-5575-4561-ac7f-899cc907d62a --query id -o tsv).')
param actionGroupServicePrincipalObjectId string = ''

@description('Create the Health Resources system topic; false when the subscription already has one.')
param createHealthSystemTopic bool = true

@description('Name of the Health Resources system topic (the existing one when not created).')
param healthSystemTopicName string = 'health-resources'

@description('Resource group of the Health Resources system topic.')
param healthSystemTopicResourceGroupName string = resourceGroup().name

@description('OIDC issuer of the agents\' federated tokens; empty: agents use agentPrincipalId or are federated later.')
param agentFederatedIssuer string = ''

@description('Subject prefix of an agent\'s federated token; the site name follows it.')
param agentFederatedSubjectPrefix string = 'dr-agent:'

@description('Default prerequisite profile (asr-2026 or asr-2014).')
param prerequisiteProfile string = 'asr-2026'

@description('Per-tenant prerequisite profile overrides.')
param tenantPrerequisiteProfiles object = {}

@description('Provider a VM gets when enable protection names none: direct or asr.')
@allowed(['direct', 'asr'])
param defaultProvider string = 'direct'

@description('Per-tenant default provider overrides, {"tenant": "direct" | "asr"}.')
param tenantDefaultProviders object = {}

@description('JSON {"<tenant>": ["<sha256 hex of an API key>"]}; pass it at deploy time, never commit it.')
@secure()
param tenantKeyHashes string = ''

@description('Prefix of the per-VM replica containers.')
param replicaContainerPrefix string = 'replica'

@description('Lifetime of the per-blob SAS the agent gets, in minutes.')
@minValue(5)
@maxValue(1440)
param sasLifetimeMinutes int = 60

@description('Operator-defined replication policies beside the built-in ones (domain/replication.py).')
param replicationPolicies object = {}

@description('Seconds without replication progress before a VM counts as stalled.')
@minValue(30)
param replicationStallSeconds int = 300

@description('Seconds without an agent heartbeat before its site counts as unreachable.')
@minValue(30)
param agentHeartbeatTimeoutSeconds int = 180

@description('The drill policy: days after which a recovery plan without a newer passed drill shows a Warning.')
@minValue(1)
@maxValue(365)
param drillMaxAgeDays int = 30
@description('When the replication watchdog runs (NCRONTAB, six fields): it restarts replication loops that ended and frees locks their operations left. Every minute by default.')
param replicationWatchdogSchedule string = '0 */1 * * * *'

@description('Days Log Analytics keeps logs.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Client id of the Entra app registration the operator console signs in with (docs/console.md); empty: no sign-in.')
param consoleClientId string = ''

@description('Object id of the Entra group of this tenant\'s operators, the only ones the console admits.')
param consoleOperatorGroupObjectId string = ''

@description('Tags put on every resource.')
param tags object = {}

// ---------------------------------------------------------------- names

var suffix = uniqueString(subscription().id, resourceGroup().id, tenantName)
var compactTenant = toLower(replace(tenantName, '-', ''))
var names = {
  storage: take('st${compactTenant}${suffix}', 24)
  serviceBus: 'sb-drcp-${tenantName}-${suffix}'
  site: 'func-drcp-${tenantName}-${suffix}'
  plan: 'plan-drcp-${tenantName}'
  workspace: 'log-drcp-${tenantName}'
  appInsights: 'appi-drcp-${tenantName}'
  vault: 'rsv-drcp-${tenantName}'
  alertTopic: 'evgt-drcp-${tenantName}-alerts'
  actionGroup: 'ag-drcp-${tenantName}'
  actionGroupShort: take('dr${compactTenant}', 12)
  agentIdentityPrefix: 'id-drcp-${tenantName}-agent'
  deploymentContainer: 'app-package'
}
var allTags = union(tags, {
  'dr-control-plane': tenantName
})

// ---------------------------------------------------------------- resources

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    workspaceName: names.workspace
    appInsightsName: names.appInsights
    retentionInDays: logRetentionDays
    tags: allTags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    accountName: names.storage
    skuName: storageSku
    deploymentContainerName: names.deploymentContainer
    tags: allTags
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    location: location
    namespaceName: names.serviceBus
    skuName: serviceBusSku
    siteNames: [for site in sites: site.name]
    maxDeliveryCount: maxDeliveryCount
    tags: allTags
  }
}

module vault 'modules/vault.bicep' = {
  name: 'vault'
  params: {
    location: location
    vaultName: names.vault
    tags: allTags
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    location: location
    siteName: names.site
    planName: names.plan
    hostingPlan: hostingPlan
    maximumInstanceCount: maximumInstanceCount
    storageAccountName: storage.outputs.accountName
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsName: monitoring.outputs.appInsightsName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    deadLetterQueueName: serviceBus.outputs.deadLetterQueueName
    commandsTopicName: serviceBus.outputs.commandsTopicName
    agentSites: string({ '${tenantName}': [for site in sites: site.name] })
    replicaContainerPrefix: replicaContainerPrefix
    sasLifetimeMinutes: sasLifetimeMinutes
    prerequisiteProfile: prerequisiteProfile
    tenantPrerequisiteProfiles: tenantPrerequisiteProfiles
    tenantKeyHashes: tenantKeyHashes
    replicationPolicies: replicationPolicies
    replicationStallSeconds: replicationStallSeconds
    agentHeartbeatTimeoutSeconds: agentHeartbeatTimeoutSeconds
    drillMaxAgeDays: drillMaxAgeDays
    replicationWatchdogSchedule: replicationWatchdogSchedule
    recoveryResourceGroupName: recoveryResourceGroupName
    recoveryVaultName: vault.outputs.vaultName
    recoveryVaultId: vault.outputs.vaultId
    defaultProvider: defaultProvider
    tenantDefaultProviders: tenantDefaultProviders
    recoveryLocation: recoveryLocation
    recoverySubnetId: resourceId(recoveryResourceGroupName, 'Microsoft.Network/virtualNetworks/subnets', recoveryVirtualNetworkName, recoverySubnetName)
    testFailoverSubnetId: resourceId(recoveryResourceGroupName, 'Microsoft.Network/virtualNetworks/subnets', testFailoverVirtualNetworkName, testFailoverSubnetName)
    consoleClientId: consoleClientId
    consoleOperatorGroupObjectId: consoleOperatorGroupObjectId
    tags: allTags
  }
}

module access 'modules/access.bicep' = {
  name: 'access'
  params: {
    principalId: functionApp.outputs.principalId
    storageAccountName: storage.outputs.accountName
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    eventsQueueNames: serviceBus.outputs.eventsQueueNames
    deadLetterQueueName: serviceBus.outputs.deadLetterQueueName
    commandsTopicName: serviceBus.outputs.commandsTopicName
    vaultName: vault.outputs.vaultName
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

module recoveryAccess 'modules/recovery-access.bicep' = {
  name: 'recovery-access-${tenantName}'
  scope: resourceGroup(recoveryResourceGroupName)
  params: {
    principalId: functionApp.outputs.principalId
  }
}

module agents 'modules/agents.bicep' = {
  name: 'agents'
  params: {
    location: location
    identityNamePrefix: names.agentIdentityPrefix
    sites: sites
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    eventsQueueNames: serviceBus.outputs.eventsQueueNames
    commandsTopicName: serviceBus.outputs.commandsTopicName
    federatedIssuer: agentFederatedIssuer
    federatedSubjectPrefix: agentFederatedSubjectPrefix
    tags: allTags
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    topicName: names.alertTopic
    actionGroupName: names.actionGroup
    actionGroupShortName: names.actionGroupShort
    eventGridServicePrincipalObjectId: eventGridServicePrincipalObjectId
    actionGroupServicePrincipalObjectId: actionGroupServicePrincipalObjectId
    functionAppId: functionApp.outputs.siteId
    alertFunctionName: alertFunctionName
    subscribeFunction: subscribeAlertHandlers
    deadLetterStorageAccountName: storage.outputs.accountName
    deadLetterContainerName: storage.outputs.alertDeadLetterContainerName
    tags: allTags
  }
}

module health 'modules/health.bicep' = {
  name: 'health-${tenantName}'
  scope: resourceGroup(healthSystemTopicResourceGroupName)
  params: {
    systemTopicName: healthSystemTopicName
    createSystemTopic: createHealthSystemTopic
    subscriptionName: 'drcp-${tenantName}-health'
    functionAppId: functionApp.outputs.siteId
    alertFunctionName: alertFunctionName
    subscribeFunction: subscribeAlertHandlers
    tags: allTags
  }
}

// ---------------------------------------------------------------- outputs (no secrets)

@description('Base URL of the runbook API (routes under /api).')
output functionBaseUrl string = functionApp.outputs.baseUrl

@description('Name of the Function App (for az functionapp deploy / keys).')
output functionAppName string = functionApp.outputs.siteName

@description('Per site: what its agent needs to connect. Identities and addresses only; no keys.')
output agentSettings object[] = [
  for (site, i) in sites: {
    site: site.name
    tenantId: tenant().tenantId
    clientId: agents.outputs.agents[i].clientId
    principalId: agents.outputs.agents[i].principalId
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    eventsQueue: serviceBus.outputs.eventsQueueNames[i]
    commandsTopic: serviceBus.outputs.commandsTopicName
    commandsSubscription: serviceBus.outputs.siteSubscriptionNames[i]
  }
]

@description('Action group to attach to the alert rules that may start a failover.')
output alertActionGroupId string = alerts.outputs.actionGroupId

@description('Recovery Services vault of the asr provider.')
output recoveryVaultName string = vault.outputs.vaultName

@description('Storage account of the task hub, read models and replicas.')
output storageAccountName string = storage.outputs.accountName

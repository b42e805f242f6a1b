// Fabrikam: one site whose agent runs on an Azure Arc-enabled server (its managed identity is
// the agent's principal), Elastic Premium to avoid cold starts, older hosts on the asr-2014
// prerequisite profile. Its subscription already holds the Health Resources system topic.
using '../main.bicep'

param tenantName = 'fabrikam'
param hostingPlan = 'ElasticPremium'
param maximumInstanceCount = 10
param sites = [
  {
    name: 'fabrikam-dc1'
    agentPrincipalId: '11111111-2222-3333-4444-555555555555'
  }
]
param recoveryResourceGroupName = 'rg-fabrikam-recovery'
param recoveryVirtualNetworkName = 'vnet-fabrikam-recovery'
param testFailoverVirtualNetworkName = 'vnet-fabrikam-test-failover'
param storageSku = 'Standard_GZRS'
param serviceBusSku = 'Standard'

param eventGridServicePrincipalObjectId = '00000000-0000-0000-0000-000000000011'
param actionGroupServicePrincipalObjectId = '00000000-0000-0000-0000-000000000012'
param subscribeAlertHandlers = false

param createHealthSystemTopic = false
param healthSystemTopicName = 'health-resources'
param healthSystemTopicResourceGroupName = 'rg-platform-events'

param prerequisiteProfile = 'asr-2014'
param tenantKeyHashes = readEnvironmentVariable('DRCP_TENANT_KEY_HASHES', '')
param logRetentionDays = 90

// Contoso: two VMM sites, Flex Consumption, agents federated from Contoso's own OIDC issuer.
// Deploy: see docs/deploy.md. Secrets are never written here: the API key hashes come from
// the environment of the shell that runs the deployment.
using '../main.bicep'

param tenantName = 'contoso'
param hostingPlan = 'FlexConsumption'
param sites = [
  {
    name: 'contoso-hq'
  }
  {
    name: 'contoso-branch'
  }
]
param recoveryResourceGroupName = 'rg-contoso-recovery'
param recoveryVirtualNetworkName = 'vnet-contoso-recovery'
param testFailoverVirtualNetworkName = 'vnet-contoso-test-failover'
param storageSku = 'Standard_ZRS'
param maxDeliveryCount = 10

// Object ids of Microsoft's first-party service principals in Contoso's Entra tenant
// (docs/deploy.md shows the two `az ad sp show` commands that print them).
param eventGridServicePrincipalObjectId = '00000000-0000-0000-0000-000000000001'
param actionGroupServicePrincipalObjectId = '00000000-0000-0000-0000-000000000002'

// Second pass, once the function code is published (Event Grid checks the function exists).
param subscribeAlertHandlers = false

param agentFederatedIssuer = 'https://issuer.contoso.example/dr-agents'
param agentFederatedSubjectPrefix = 'dr-agent:'

// The operator console's sign-in: Contoso's app registration and its DR operators' group
// (docs/console.md says how to create both).
param consoleClientId = '00000000-0000-0000-0000-000000000003'
param consoleOperatorGroupObjectId = '00000000-0000-0000-0000-000000000004'

param prerequisiteProfile = 'asr-2026'
param tenantKeyHashes = readEnvironmentVariable('DRCP_TENANT_KEY_HASHES', '')
param tags = {
  costCenter: 'it-dr'
}

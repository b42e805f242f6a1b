// The Recovery Services vault the `asr` provider drives (Hyper-V sites, policies, replicated
// items, recovery plans). The control plane gets Site Recovery Contributor on this vault only.

@description('Azure region of the vault: the region VMs fail over to.')
param location string

@description('Name of the vault.')
param vaultName string

@description('Tags put on every resource.')
param tags object = {}

resource vault 'Microsoft.RecoveryServices/vaults@2024-04-01' = {
  name: vaultName
  location: location
  tags: tags
  sku: {
    name: 'RS0'
    tier: 'Standard'
  }
  properties: {
    publicNetworkAccess: 'Enabled'
  }
}

output vaultName string = vault.name
output vaultId string = vault.id

// Virtual Machine Contributor for the control plane on the recovery resource group, where
// failover creates the VMs (and their disks and NICs). The resource group itself is the
// narrowest scope that exists for VMs that are not created yet, so this is the one role
// assignment scoped to a resource group; main.bicep deploys this module AT that group, so it
// never reaches the control plane's own group.

@description('Principal id of the Function App\'s system-assigned identity.')
param principalId string

var virtualMachineContributor = '9980e02c-c2be-4d73-94e8-173b1dc7cf3c'

resource createRecoveryVms 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, virtualMachineContributor)
  scope: resourceGroup()
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', virtualMachineContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'DR control plane: create failed-over VMs in the recovery resource group.'
  }
}

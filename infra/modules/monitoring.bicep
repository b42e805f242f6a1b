// Application Insights on a Log Analytics workspace, one pair per tenant.
// Local (instrumentation-key) ingestion is off: the Function App sends telemetry with its
// managed identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING), so the connection string it
// reads is an address, not a credential.

@description('Azure region of the workspace and the component.')
param location string

@description('Name of the Log Analytics workspace.')
param workspaceName string

@description('Name of the Application Insights component.')
param appInsightsName string

@description('Days the workspace keeps logs (30 is the free retention).')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

@description('Tags put on every resource.')
param tags object = {}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: true
  }
}

output appInsightsName string = appInsights.name
output workspaceId string = workspace.id

// The control plane's Function App: Linux, Python 3.11, on Flex Consumption or Elastic Premium.
// It runs with its system-assigned identity and connects to storage and Service Bus with
// identity-based connections (`<Connection>__<property>` settings, resolved by the Functions
// host and by azureclients/clients.py), so no connection string or key appears anywhere.
// Every setting the code reads is set here; tests/infra checks that against
// local.settings.sample.json and the code itself.

@description('Azure region of the plan and the app.')
param location string

@description('Globally unique Function App name (it becomes <name>.azurewebsites.net).')
param siteName string

@description('Name of the hosting plan.')
param planName string

@description('Flex Consumption (scale to zero, per-execution billing) or Elastic Premium (pre-warmed, VNet, no cold start).')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string = 'FlexConsumption'

@description('Elastic Premium size, used only when hostingPlan is ElasticPremium.')
@allowed([
  'EP1'
  'EP2'
  'EP3'
])
param elasticPremiumSku string = 'EP1'

@description('Upper bound of instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory per Flex Consumption instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('The tenant storage account (task hub, read models, replicas, code package).')
param storageAccountName string

@description('Container in the storage account that holds the code package.')
param deploymentContainerName string

@description('Blob name of the code package; Elastic Premium runs it straight from the container.')
param packageBlobName string = 'released-package.zip'

@description('Application Insights component the app reports to.')
param appInsightsName string

@description('<namespace>.servicebus.windows.net of the tenant Service Bus.')
param serviceBusFullyQualifiedNamespace string

@description('Queue the app writes agent events that fail validation to.')
param deadLetterQueueName string

@description('Topic the app sends agent commands to.')
param commandsTopicName string

@description('AGENT_SITES: JSON object of the tenant to its sites; the app reads each site\'s own events queue.')
param agentSites string

@description('Prefix of the per-VM replica containers.')
param replicaContainerPrefix string = 'replica'

@description('Lifetime of the per-blob SAS handed to the agent, in minutes.')
@minValue(5)
@maxValue(1440)
param sasLifetimeMinutes int = 60

@description('Default prerequisite profile (domain/profiles), e.g. asr-2026.')
param prerequisiteProfile string = 'asr-2026'

@description('Per-tenant prerequisite profile overrides, {"tenant": "profile"}.')
param tenantPrerequisiteProfiles object = {}

@description('Provider a VM gets when enable protection names none: direct or asr.')
@allowed(['direct', 'asr'])
param defaultProvider string = 'direct'

@description('Per-tenant default provider overrides, {"tenant": "direct" | "asr"}.')
param tenantDefaultProviders object = {}

@description('Seconds between looks at Site Recovery while an asr VM enables and replicates initially.')
@minValue(1)
param asrPollSeconds int = 10

@description('Seconds between looks at Site Recovery once an asr VM is protected (status, RPO, health).')
@minValue(10)
param asrWatchSeconds int = 60

@description('JSON {"tenant": ["<sha256 hex of an API key>", ...]}: which keys may act for which tenant.')
@secure()
param tenantKeyHashes string = ''

@description('Operator-defined replication policies, {"<name>": {interval, retention_hours, ...}} (domain/replication.py).')
param replicationPolicies object = {}

@description('Seconds without replication progress before a VM is reported stalled.')
@minValue(30)
param replicationStallSeconds int = 300

@description('Seconds without an agent heartbeat before its site is reported unreachable.')
@minValue(30)
param agentHeartbeatTimeoutSeconds int = 180

@description('The drill policy: days after which a recovery plan without a newer passed drill shows a Warning.')
@minValue(1)
@maxValue(365)
param drillMaxAgeDays int = 30

@description('NCRONTAB schedule of the replication watchdog timer (every minute by default).')
param replicationWatchdogSchedule string = '0 */1 * * * *'

@description('Resource group where failed-over VMs, disks and NICs are created.')
param recoveryResourceGroupName string

@description('Recovery Services vault the asr provider drives.')
param recoveryVaultName string

@description('ARM id of that vault (the asr provider\'s clients address it by id).')
param recoveryVaultId string

@description('Azure region failed-over VMs, their disks and NICs are created in.')
param recoveryLocation string

@description('ARM id of the subnet failed-over VMs join (planned and unplanned failover).')
param recoverySubnetId string

@description('ARM id of the isolated subnet test failovers join (no route to production).')
param testFailoverSubnetId string

@description('Client id of the Entra app registration the operator console signs in with; empty: no sign-in (the console then takes the tenant key alone).')
param consoleClientId string = ''

@description('Object id of the Entra group of this tenant\'s operators: the only principals the console\'s sign-in admits.')
param consoleOperatorGroupObjectId string = ''

@description('Tags put on every resource.')
param tags object = {}

var isFlex = hostingPlan == 'FlexConsumption'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

var blobEndpoint = storage.properties.primaryEndpoints.blob
var packageContainerUrl = '${blobEndpoint}${deploymentContainerName}'

// Settings both plans share. Identity-based connections stand in for the sample's connection
// strings: AzureWebJobsStorage (host + Durable task hub), ReplicaStorage (blobs),
// ReadModelStorage (tables) and ServiceBusConnection.
var commonSettings = [
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storage.name
  }
  {
    name: 'AzureWebJobsFeatureFlags'
    value: 'EnableWorkerIndexing'
  }
  {
    name: 'ServiceBusConnection__fullyQualifiedNamespace'
    value: serviceBusFullyQualifiedNamespace
  }
  {
    name: 'ReplicaStorage__blobServiceUri'
    value: blobEndpoint
  }
  {
    name: 'ReadModelStorage__tableServiceUri'
    value: storage.properties.primaryEndpoints.table
  }
  {
    name: 'AGENT_SITES'
    value: agentSites
  }
  {
    name: 'AGENT_EVENTS_DEADLETTER_QUEUE'
    value: deadLetterQueueName
  }
  {
    name: 'AGENT_COMMANDS_TOPIC'
    value: commandsTopicName
  }
  {
    name: 'REPLICA_CONTAINER_PREFIX'
    value: replicaContainerPrefix
  }
  {
    name: 'SAS_LIFETIME_MINUTES'
    value: string(sasLifetimeMinutes)
  }
  {
    name: 'PREREQUISITE_PROFILE'
    value: prerequisiteProfile
  }
  {
    name: 'TENANT_PREREQUISITE_PROFILES'
    value: string(tenantPrerequisiteProfiles)
  }
  {
    name: 'TENANT_KEY_HASHES'
    value: empty(tenantKeyHashes) ? '{}' : tenantKeyHashes
  }
  {
    name: 'REPLICATION_POLICIES'
    value: string(replicationPolicies)
  }
  {
    name: 'REPLICATION_STALL_SECONDS'
    value: string(replicationStallSeconds)
  }
  {
    name: 'AGENT_HEARTBEAT_TIMEOUT_SECONDS'
    value: string(agentHeartbeatTimeoutSeconds)
  }
  {
    name: 'DRILL_MAX_AGE_DAYS'
    value: string(drillMaxAgeDays)
  }
  {
    name: 'REPLICATION_WATCHDOG_SCHEDULE'
    value: replicationWatchdogSchedule
  }
  {
    name: 'AZURE_SUBSCRIPTION_ID'
    value: subscription().subscriptionId
  }
  {
    name: 'RECOVERY_RESOURCE_GROUP'
    value: recoveryResourceGroupName
  }
  {
    name: 'RECOVERY_VAULT_NAME'
    value: recoveryVaultName
  }
  {
    name: 'ASR_VAULT_ID'
    value: recoveryVaultId
  }
  {
    name: 'DEFAULT_PROVIDER'
    value: defaultProvider
  }
  {
    name: 'TENANT_DEFAULT_PROVIDERS'
    value: string(tenantDefaultProviders)
  }
  {
    name: 'ASR_POLL_SECONDS'
    value: string(asrPollSeconds)
  }
  {
    name: 'ASR_WATCH_SECONDS'
    value: string(asrWatchSeconds)
  }
  {
    name: 'ARM_ENDPOINT'
    value: environment().resourceManager
  }
  {
    name: 'RECOVERY_LOCATION'
    value: recoveryLocation
  }
  {
    name: 'RECOVERY_SUBNET_ID'
    value: recoverySubnetId
  }
  {
    name: 'TEST_FAILOVER_SUBNET_ID'
    value: testFailoverSubnetId
  }
  {
    // Managed-disk Import names the storage account that holds the recovery point's blob.
    name: 'REPLICA_STORAGE_ACCOUNT_ID'
    value: storage.id
  }
  {
    // An address, not a credential: the component has local auth off and accepts only
    // Entra-authenticated telemetry (next setting).
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsights.properties.ConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'Authorization=AAD'
  }
]

// The operator console's Entra sign-in (consoleSignIn below), when configured: with
// CONSOLE_SIGN_IN=entra, and only together with WEBSITE_AUTH_ENABLED=True (which App Service
// sets itself when its authentication is on), the app believes the signed-in principal App
// Service passes on (httpapi/signin.py). The app never sets WEBSITE_AUTH_ENABLED.
var consoleSettings = empty(consoleClientId)
  ? []
  : [
      {
        name: 'CONSOLE_SIGN_IN'
        value: 'entra'
      }
    ]

// Flex Consumption takes the runtime from functionAppConfig and rejects
// FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION as app settings; Elastic Premium needs
// them. Elastic Premium runs the package from the blob container with the app's identity, so
// no Azure Files content share (which would need an account key) is created.
var elasticPremiumSettings = [
  {
    name: 'FUNCTIONS_WORKER_RUNTIME'
    value: 'python'
  }
  {
    name: 'FUNCTIONS_EXTENSION_VERSION'
    value: '~4'
  }
  {
    name: 'WEBSITE_RUN_FROM_PACKAGE'
    value: '${packageContainerUrl}/${packageBlobName}'
  }
  {
    name: 'WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID'
    value: 'SystemAssigned'
  }
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex
    ? {
        name: 'FC1'
        tier: 'FlexConsumption'
      }
    : {
        name: elasticPremiumSku
        tier: 'ElasticPremium'
      }
  properties: {
    reserved: true
    maximumElasticWorkerCount: isFlex ? null : maximumInstanceCount
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: siteName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      linuxFxVersion: isFlex ? null : 'Python|3.11'
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: isFlex
        ? concat(commonSettings, consoleSettings)
        : concat(commonSettings, elasticPremiumSettings, consoleSettings)
    }
    functionAppConfig: isFlex
      ? {
          deployment: {
            storage: {
              type: 'blobContainer'
              value: packageContainerUrl
              authentication: {
                type: 'SystemAssignedIdentity'
              }
            }
          }
          scaleAndConcurrency: {
            maximumInstanceCount: maximumInstanceCount
            instanceMemoryMB: instanceMemoryMB
          }
          runtime: {
            name: 'python'
            version: '3.11'
          }
        }
      : null
  }
}

// Basic-auth publishing (FTP and SCM) stays off: deploy with Entra ID (az functionapp deploy).
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

// Sign-in for the operator console (GET /api/console, docs/console.md): App Service
// authentication with Entra ID. Only members of this tenant's operator group get in: one
// deployment serves one tenant, so the group is mapped to that tenant here. The sign-in alone
// opens the console: its two routes are anonymous at the Functions host, and the app trusts
// the principal this authentication passes on (CONSOLE_SIGN_IN above), acting for the
// deployment's tenant through /api/console/api/*, which stays behind the sign-in. The
// runbook API, health and the Event Grid / Durable webhooks are excluded: runbooks and Azure
// call them with keys, not with a person's sign-in. No client secret: Easy Auth signs in
// with ID tokens (enable them on the app registration).
resource consoleSignIn 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(consoleClientId)) {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: [
        '/api/health'
        '/api/openapi.json'
        '/api/tenants/*'
        '/runtime/webhooks/*'
      ]
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: consoleClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          defaultAuthorizationPolicy: {
            allowedPrincipals: {
              groups: [
                consoleOperatorGroupObjectId
              ]
            }
          }
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}

output siteName string = site.name
output siteId string = site.id
output principalId string = site.identity.principalId
output baseUrl string = 'https://${site.properties.defaultHostName}/api'

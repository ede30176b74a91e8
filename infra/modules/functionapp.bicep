// functionapp.bicep: the hosting plan and the Linux function app that runs the
// custom handler as the user-assigned identity. Every app setting that names
// a service is identity-based (…__fullyQualifiedNamespace, …__accountName,
// Entra-token PostgreSQL, Entra-authenticated Application Insights); the only
// secret values are the optional SMTP password and the RabbitMQ URI, which
// arrive as @secure() parameters (or Key Vault references, see DEPLOY.md) and
// are never output.

@description('Function app name (becomes <name>.azurewebsites.net).')
param name string

@description('Hosting plan name.')
param planName string

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object = {}

@description('flex = Flex Consumption FC1; premium = Elastic Premium EP1 (needed for RabbitMQ triggers).')
@allowed([
  'flex'
  'premium'
])
param plan string

@description('Which broker the handler uses; the other broker\'s trigger functions are disabled.')
@allowed([
  'servicebus'
  'rabbitmq'
])
param broker string

@description('Resource ID of the user-assigned identity.')
param identityId string

@description('Client ID of the user-assigned identity.')
param identityClientId string

@description('Name of the identity, which is also its PostgreSQL role name.')
param identityName string

@description('Host storage account name.')
param storageAccountName string

@description('URL of the blob container that holds the deployment package.')
param deploymentContainerUrl string

@description('Blob name of the package inside that container (Elastic Premium run-from-package).')
param packageBlobName string = 'handler.zip'

@description('Application Insights component name.')
param appInsightsName string

@description('Service Bus fully qualified namespace.')
param serviceBusNamespace string

@description('PostgreSQL host name.')
param postgresHost string

@description('PostgreSQL database name.')
param postgresDatabase string

@description('SMTP relay host name.')
param smtpHost string

@description('SMTP relay port.')
param smtpPort int

@description('SMTP user name; empty for an unauthenticated relay.')
param smtpUsername string

@description('SMTP password or a Key Vault reference; empty for an unauthenticated relay.')
@secure()
param smtpPassword string

@description('Sender address of order e-mails.')
param smtpFrom string

@description('RabbitMQ amqp(s):// URI or a Key Vault reference; used only when broker is rabbitmq.')
@secure()
param rabbitMQConnection string

@description('Flex Consumption: maximum instance count.')
param maximumInstanceCount int = 100

@description('Flex Consumption: instance memory in MB (512, 2048 or 4096).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

var isFlex = plan == 'flex'

// Trigger layout; the broker switch disables one variant per consumer.
var topology = loadJsonContent('../../shared/topology/topology.json')

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// Settings every plan and broker needs.
var baseSettings = [
  // Host storage through the identity (Storage Blob Data Owner).
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storageAccountName
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  // Telemetry: the component has local auth disabled, so ingestion needs the
  // Entra token named by the authentication string (Monitoring Metrics
  // Publisher). The connection string carries only the ingestion endpoint.
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsights.properties.ConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
  }
  // azidentity's managed identity selection in the handler.
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
  {
    name: 'BROKER'
    value: broker
  }
  // Service Bus triggers and the outbox relay's sender, by identity.
  {
    name: 'ServiceBusConnection__fullyQualifiedNamespace'
    value: serviceBusNamespace
  }
  {
    name: 'ServiceBusConnection__credential'
    value: 'managedidentity'
  }
  {
    name: 'ServiceBusConnection__clientId'
    value: identityClientId
  }
  // PostgreSQL with an Entra token of the identity as password.
  {
    name: 'POSTGRES_HOST'
    value: postgresHost
  }
  {
    name: 'POSTGRES_DATABASE'
    value: postgresDatabase
  }
  {
    name: 'POSTGRES_USER'
    value: identityName
  }
  {
    name: 'POSTGRES_AUTH'
    value: 'entra'
  }
  {
    name: 'SMTP_HOST'
    value: smtpHost
  }
  {
    name: 'SMTP_PORT'
    value: string(smtpPort)
  }
  {
    name: 'SMTP_USERNAME'
    value: smtpUsername
  }
  {
    name: 'SMTP_PASSWORD'
    value: smtpPassword
  }
  {
    name: 'SMTP_FROM'
    value: smtpFrom
  }
]

// The inactive broker's trigger functions: <Function> consumes Service Bus,
// <Function>RabbitMQ consumes RabbitMQ (one pair per topology subscription).
var disabledTriggerSettings = [
  for sub in topology.subscriptions: {
    name: broker == 'servicebus' ? 'AzureWebJobs.${sub.function}RabbitMQ.Disabled' : 'AzureWebJobs.${sub.function}.Disabled'
    value: 'true'
  }
]

// RabbitMQ has no identity-based connection (docs/functions-protocol.md 7): the
// URI is a secret, set only when that broker is active.
var rabbitMQConnectionSetting = [
  {
    name: 'RabbitMQConnection'
    value: rabbitMQConnection
  }
]
var rabbitMQSettings = broker == 'rabbitmq' ? rabbitMQConnectionSetting : []

// Classic (non-Flex) plans select the runtime and the package through app
// settings; Flex Consumption rejects these and uses functionAppConfig instead.
var premiumOnlySettings = [
  {
    name: 'FUNCTIONS_EXTENSION_VERSION'
    value: '~4'
  }
  {
    name: 'FUNCTIONS_WORKER_RUNTIME'
    value: 'custom'
  }
  {
    name: 'WEBSITE_RUN_FROM_PACKAGE'
    value: '${deploymentContainerUrl}/${packageBlobName}'
  }
  {
    name: 'WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID'
    value: identityId
  }
]

var appSettings = concat(baseSettings, disabledTriggerSettings, rabbitMQSettings, isFlex ? [] : premiumOnlySettings)

var flexSku = {
  name: 'FC1'
  tier: 'FlexConsumption'
}

var premiumSku = {
  name: 'EP1'
  tier: 'ElasticPremium'
}

// Flex Consumption: package from the deployment container (read as the
// identity), scale limits, and the runtime (custom handler).
var flexAppConfig = {
  deployment: {
    storage: {
      type: 'blobContainer'
      value: deploymentContainerUrl
      authentication: {
        type: 'UserAssignedIdentity'
        userAssignedIdentityResourceId: identityId
      }
    }
  }
  scaleAndConcurrency: {
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
  runtime: {
    name: 'custom'
    version: '1.0'
  }
}

resource hostingPlan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: planName
  location: location
  tags: tags
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex ? flexSku : premiumSku
  properties: {
    reserved: true
    maximumElasticWorkerCount: isFlex ? null : 20
  }
}

resource site 'Microsoft.Web/sites@2025-03-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: hostingPlan.id
    reserved: true
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      appSettings: appSettings
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      // Elastic Premium scales RabbitMQ and Service Bus triggers from inside
      // the runtime; Flex Consumption scales by itself (null = not sent).
      functionsRuntimeScaleMonitoringEnabled: isFlex ? null : true
      minimumElasticInstanceCount: isFlex ? null : 1
    }
    functionAppConfig: isFlex ? flexAppConfig : null
  }
}

@description('Function app name, for the zip deployment.')
output name string = site.name

@description('Default host name of the app.')
output defaultHostName string = site.properties.defaultHostName

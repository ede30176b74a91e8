// main.bicep: the whole order app on Azure Functions, password-less.
//
//   identity   user-assigned managed identity the app runs as
//   monitoring Log Analytics + Application Insights (Entra-only ingestion)
//   storage    host storage (no shared keys) + deployment package container
//   servicebus namespace (Entra-only, TLS 1.2), topic and subscriptions from
//              shared/topology/topology.json
//   postgres   Flexible Server, Entra authentication only, the database
//   functionapp Flex Consumption FC1 or Elastic Premium EP1 plan + Linux
//              custom-handler function app with identity-based settings
//
// Each module grants the identity exactly the role its resource needs; no
// template reads a key, builds a connection string with a secret or outputs
// one. Deploy with ./deploy.sh (see DEPLOY.md).

targetScope = 'resourceGroup'

@description('Prefix of every resource name: 3-11 lowercase letters or digits.')
@minLength(3)
@maxLength(11)
param namePrefix string

@description('Azure region; defaults to the resource group\'s.')
param location string = resourceGroup().location

@description('flex = Flex Consumption FC1 (Service Bus only); premium = Elastic Premium EP1 (needed for RabbitMQ triggers).')
@allowed([
  'flex'
  'premium'
])
param plan string = 'flex'

@description('Message broker used by the app.')
@allowed([
  'servicebus'
  'rabbitmq'
])
param broker string = 'servicebus'

@description('RabbitMQ amqps:// URI, or a Key Vault reference @Microsoft.KeyVault(SecretUri=...). Required when broker is rabbitmq.')
@secure()
param rabbitMQConnection string = ''

@description('Object ID of the Microsoft Entra user or group that administers PostgreSQL (and runs the SQL grant step).')
param postgresAdminObjectId string

@description('Name of that principal: user principal name or group display name.')
param postgresAdminName string

@description('Kind of that principal.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param postgresAdminType string = 'User'

@description('Name of the application database.')
param postgresDatabaseName string = 'orders'

@description('SMTP relay host name for order e-mails.')
param smtpHost string

@description('SMTP relay port.')
param smtpPort int = 587

@description('SMTP user name; empty for an unauthenticated relay.')
param smtpUsername string = ''

@description('SMTP password, or a Key Vault reference; empty for an unauthenticated relay.')
@secure()
param smtpPassword string = ''

@description('Sender address of order e-mails.')
param smtpFrom string

@description('Tags applied to every resource.')
param tags object = {}

// Flex Consumption has no RabbitMQ trigger (docs/functions-protocol.md 8), and
// the RabbitMQ trigger has no identity-based connection (7).
var hostingPlanKind = plan == 'flex' && broker == 'rabbitmq' ? fail('broker rabbitmq needs plan premium: Flex Consumption does not run RabbitMQ triggers') : plan
var rabbitMQConnectionChecked = broker == 'rabbitmq' && empty(rabbitMQConnection) ? fail('broker rabbitmq needs the rabbitMQConnection parameter') : rabbitMQConnection

var suffix = uniqueString(subscription().id, resourceGroup().id, namePrefix)
var baseName = '${namePrefix}-${suffix}'

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: 'id-${baseName}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    workspaceName: 'log-${baseName}'
    appInsightsName: 'appi-${baseName}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: take(toLower('st${replace(namePrefix, '-', '')}${suffix}'), 24)
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    name: 'sb-${baseName}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module postgres 'modules/postgres.bicep' = {
  name: 'postgres'
  params: {
    name: 'psql-${baseName}'
    location: location
    tags: tags
    databaseName: postgresDatabaseName
    adminObjectId: postgresAdminObjectId
    adminName: postgresAdminName
    adminType: postgresAdminType
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: 'func-${baseName}'
    planName: 'plan-${baseName}'
    location: location
    tags: tags
    plan: hostingPlanKind
    broker: broker
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    identityName: identity.outputs.name
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    appInsightsName: monitoring.outputs.appInsightsName
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    postgresHost: postgres.outputs.host
    postgresDatabase: postgres.outputs.databaseName
    smtpHost: smtpHost
    smtpPort: smtpPort
    smtpUsername: smtpUsername
    smtpPassword: smtpPassword
    smtpFrom: smtpFrom
    rabbitMQConnection: rabbitMQConnectionChecked
  }
}

@description('Function app name: target of the zip deployment.')
output functionAppName string = functionApp.outputs.name

@description('Base URL of the HTTP API.')
output functionAppUrl string = 'https://${functionApp.outputs.defaultHostName}'

@description('Hosting plan kind the app runs on (flex or premium).')
output plan string = hostingPlanKind

@description('Storage account and container that receive the package.')
output storageAccountName string = storage.outputs.name

@description('URL of the deployment container.')
output deploymentContainerUrl string = storage.outputs.deploymentContainerUrl

@description('Identity name = PostgreSQL role to create in the SQL grant step.')
output identityName string = identity.outputs.name

@description('Identity client ID (AZURE_CLIENT_ID).')
output identityClientId string = identity.outputs.clientId

@description('PostgreSQL server name, host and database for the SQL grant step.')
output postgresServerName string = postgres.outputs.serverName

@description('PostgreSQL host name.')
output postgresHost string = postgres.outputs.host

@description('Application database name.')
output postgresDatabase string = postgres.outputs.databaseName

@description('Service Bus fully qualified namespace.')
output serviceBusNamespace string = serviceBus.outputs.fullyQualifiedNamespace

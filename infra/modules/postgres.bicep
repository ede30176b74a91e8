// postgres.bicep: PostgreSQL Flexible Server with Microsoft Entra
// authentication only (password authentication disabled, so no admin password
// exists anywhere), the application database, and one Entra administrator:
// the person or group given as admin. The app identity is deliberately not an
// administrator (least privilege); its database role is created by the one
// SQL step in infra/sql/grant-app-role.sql, which deploy.sh runs as the admin.

@description('Server name (becomes <name>.postgres.database.azure.com).')
param name string

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object = {}

@description('Name of the application database.')
param databaseName string = 'orders'

@description('Object ID of the Entra user, group or service principal that administers the server.')
param adminObjectId string

@description('Display name of that principal (user principal name, group name or app name).')
param adminName string

@description('Kind of that principal.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param adminType string = 'User'

@description('PostgreSQL major version.')
param version string = '16'

@description('Compute SKU name.')
param skuName string = 'Standard_B1ms'

@description('Compute tier of skuName.')
@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param skuTier string = 'Burstable'

@description('Storage size in GiB.')
param storageSizeGB int = 32

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: version
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Disabled'
      tenantId: tenant().tenantId
    }
    storage: {
      storageSizeGB: storageSizeGB
    }
    backup: {
      backupRetentionDays: 7
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
    network: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

// The administrator's resource name is its object ID.
resource admin 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  name: adminObjectId
  parent: server
  properties: {
    principalName: adminName
    principalType: adminType
    tenantId: tenant().tenantId
  }
}

// Child operations are serialised: a flexible server rejects concurrent
// updates (ServerIsBusy).
resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  name: databaseName
  parent: server
  dependsOn: [
    admin
  ]
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}

// Flex Consumption and Elastic Premium apps have no fixed outbound address
// without VNet integration, so the server admits Azure-internal traffic (the
// 0.0.0.0 rule); every login still needs an Entra token. Use private
// networking to narrow this further (see DEPLOY.md).
resource allowAzure 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = {
  name: 'AllowAllAzureServicesAndResourcesWithinAzureIps'
  parent: server
  dependsOn: [
    database
  ]
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
}

@description('Host name, for POSTGRES_HOST.')
output host string = server.properties.fullyQualifiedDomainName

@description('Database name, for POSTGRES_DATABASE.')
output databaseName string = database.name

@description('Server name, for the SQL grant step.')
output serverName string = server.name

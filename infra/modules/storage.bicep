// storage.bicep: the host storage account. Shared-key access is disabled, so
// the Functions host reaches it only as the app identity
// (AzureWebJobsStorage__accountName/__credential/__clientId). The blob
// container holds the deployment package: Flex Consumption's
// functionAppConfig.deployment.storage points at it, and on Elastic Premium
// WEBSITE_RUN_FROM_PACKAGE points at a blob in it.

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object = {}

@description('Object ID of the app identity.')
param principalId string

@description('Name of the blob container that holds the deployment package.')
param deploymentContainerName string = 'app-package'

// Built-in role: Storage Blob Data Owner (ID: infra/DEPLOY.md), the
// role the Functions host needs for identity-based AzureWebJobsStorage.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'

resource account 'Microsoft.Storage/storageAccounts@2025-01-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' = {
  name: 'default'
  parent: account
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  name: deploymentContainerName
  parent: blobService
  properties: {
    publicAccess: 'None'
  }
}

resource blobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, storageBlobDataOwner)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Account name, for AzureWebJobsStorage__accountName.')
output name string = account.name

@description('URL of the deployment container (no SAS: access is by identity).')
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainer.name}'

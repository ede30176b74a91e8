// identity.bicep: the one user-assigned managed identity the function app runs
// as. Every data-plane permission (Service Bus, host storage, Application
// Insights ingestion, PostgreSQL) is granted to this principal by the module
// that owns the target resource, so each grant sits next to its scope.

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: name
  location: location
  tags: tags
}

@description('Resource ID, for the site identity block and Flex deployment storage.')
output id string = identity.id

@description('Client (application) ID: the __clientId settings and AZURE_CLIENT_ID.')
output clientId string = identity.properties.clientId

@description('Object (principal) ID: the role assignments and the PostgreSQL principal.')
output principalId string = identity.properties.principalId

@description('Name; also the PostgreSQL role name of the identity.')
output name string = identity.name

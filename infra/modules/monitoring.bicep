// monitoring.bicep: Log Analytics workspace + workspace-based Application
// Insights with local (instrumentation-key) authentication disabled, so the
// host can only ingest telemetry with a Microsoft Entra token of the app's
// identity. That identity gets Monitoring Metrics Publisher on the component
// and nothing else here.

@description('Log Analytics workspace name.')
param workspaceName string

@description('Application Insights component name.')
param appInsightsName string

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object = {}

@description('Object ID of the app identity that publishes telemetry.')
param principalId string

// Built-in role: Monitoring Metrics Publisher (ID: infra/DEPLOY.md).
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-07-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
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
    DisableLocalAuth: true
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Component name; the function app module reads its ingestion endpoint through an existing reference, so no endpoint string travels through outputs.')
output appInsightsName string = appInsights.name

// servicebus.bicep: the Service Bus namespace (Standard: topics need it),
// Entra-only (SAS disabled), TLS 1.2, with the topic and one subscription per
// consumer taken from shared/topology/topology.json — the same file the
// emulator config and the RabbitMQ declarations are checked against, so no
// delivery setting is copied by hand. The app identity gets Data Sender (the
// outbox relay publishes) and Data Receiver (the triggers consume) on the
// namespace and nothing broader (not Data Owner).

@description('Service Bus namespace name.')
param name string

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object = {}

@description('Object ID of the app identity.')
param principalId string

// The messaging layout; path relative to this file.
var topology = loadJsonContent('../../shared/topology/topology.json')

// Built-in roles (IDs: infra/DEPLOY.md).
var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource topic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = {
  name: topology.topic
  parent: namespace
  properties: {
    requiresDuplicateDetection: false
  }
}

resource subscriptions 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = [
  for sub in topology.subscriptions: {
    name: sub.name
    parent: topic
    properties: {
      maxDeliveryCount: sub.maxDeliveryCount
      lockDuration: sub.lockDuration
      defaultMessageTimeToLive: sub.defaultMessageTimeToLive
      deadLetteringOnMessageExpiration: sub.deadLetteringOnMessageExpiration
      requiresSession: false
    }
  }
]

resource dataSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, principalId, serviceBusDataSender)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource dataReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, principalId, serviceBusDataReceiver)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Fully qualified namespace, for ServiceBusConnection__fullyQualifiedNamespace.')
// serviceBusEndpoint is https://<ns>.<cloud suffix>:443/; taking the host from
// it keeps sovereign clouds right.
output fullyQualifiedNamespace string = replace(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':443/', '')

@description('Topic name from topology.json.')
output topicName string = topic.name

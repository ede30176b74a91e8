// Example parameters. Copy to e.g. prod.bicepparam and edit, or deploy as is
// with the values taken from the environment (deploy.sh exports them).
// No secret is written here: secrets come from the environment or Key Vault.
using 'main.bicep'

param namePrefix = readEnvironmentVariable('ORDERFLOW_PREFIX', 'orderflow')

// flex (default) or premium; premium is required for broker = rabbitmq.
param plan = readEnvironmentVariable('ORDERFLOW_PLAN', 'flex')

param broker = readEnvironmentVariable('ORDERFLOW_BROKER', 'servicebus')

// Only read when broker = rabbitmq. Either the amqps:// URI itself or a Key
// Vault reference such as
// '@Microsoft.KeyVault(SecretUri=https://<vault>.vault.azure.net/secrets/rabbitmq)'
// (grant the app identity "Key Vault Secrets User" on that vault first).
param rabbitMQConnection = readEnvironmentVariable('ORDERFLOW_RABBITMQ_CONNECTION', '')

// The Entra principal that administers PostgreSQL; deploy.sh fills these in
// with the signed-in user (az ad signed-in-user show).
param postgresAdminObjectId = readEnvironmentVariable('ORDERFLOW_PG_ADMIN_OBJECT_ID')
param postgresAdminName = readEnvironmentVariable('ORDERFLOW_PG_ADMIN_NAME')
param postgresAdminType = 'User'

param smtpHost = readEnvironmentVariable('ORDERFLOW_SMTP_HOST', 'smtp.example.com')
param smtpPort = int(readEnvironmentVariable('ORDERFLOW_SMTP_PORT', '587'))
param smtpUsername = readEnvironmentVariable('ORDERFLOW_SMTP_USERNAME', '')
param smtpPassword = readEnvironmentVariable('ORDERFLOW_SMTP_PASSWORD', '')
param smtpFrom = readEnvironmentVariable('ORDERFLOW_SMTP_FROM', 'orders@example.com')

param tags = {
  app: 'orderflow'
}

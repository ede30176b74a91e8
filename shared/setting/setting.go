// Package setting loads the handler's configuration from environment
// variables, which is how both the Azure Functions host and our local host
// hand app settings (local.settings.json Values) to a custom handler.
package setting

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Broker names accepted in BROKER.
const (
	BrokerServiceBus = "servicebus"
	BrokerRabbitMQ   = "rabbitmq"
)

// Settings is everything the handler reads from its environment. The zero
// value of a field means its default; Load fills the defaults in.
type Settings struct {
	// DatabaseURL (DATABASE_URL) is the PostgreSQL connection URL used when
	// PostgresAuth is "password" (the URL carries the password, if any).
	// Default: postgres://postgres@127.0.0.1:5432/orders?sslmode=disable.
	// The database is created if it does not exist. Must be empty when
	// PostgresAuth is "entra".
	DatabaseURL string
	// PostgresAuth (POSTGRES_AUTH) is "password" (connect with DatabaseURL),
	// "entra" (connect to PostgresHost/PostgresDatabase as PostgresUser
	// with a Microsoft Entra ID access token as the password; the database
	// must exist) or "rds-iam" (the same with an Amazon RDS IAM
	// authentication token, signed with the AWS credentials of the process
	// for the region in AWS_REGION). Default: password.
	PostgresAuth string
	// PostgresHost (POSTGRES_HOST) is the server host name, e.g.
	// <server>.postgres.database.azure.com. Default: empty; required when
	// PostgresAuth is "entra" or "rds-iam", and only allowed then.
	PostgresHost string
	// PostgresPort (POSTGRES_PORT) is the server port. Default: 5432.
	PostgresPort int
	// PostgresDatabase (POSTGRES_DATABASE) is the database name. Default:
	// empty; required when PostgresAuth is "entra" or "rds-iam", and only
	// allowed then.
	PostgresDatabase string
	// PostgresUser (POSTGRES_USER) is the PostgreSQL role of the Entra
	// principal; for a managed identity, the identity's name; with rds-iam,
	// a role granted rds_iam. Default: empty; required when PostgresAuth is
	// "entra" or "rds-iam", and only allowed then.
	PostgresUser string
	// PostgresSSLMode (POSTGRES_SSLMODE) is the libpq sslmode of the token
	// (entra, rds-iam) connection: disable, allow, prefer, require, verify-ca or verify-full.
	// The token is a bearer secret, so only tests against a local server
	// should lower it. Default: require.
	PostgresSSLMode string
	// AWSRegion (AWS_REGION) is the region the RDS IAM token is signed
	// for; Lambda sets it. Default: empty; required when PostgresAuth is
	// "rds-iam".
	AWSRegion string
	// AzureClientID (AZURE_CLIENT_ID) is the client ID of the user-assigned
	// managed identity whose token the Entra connection uses; empty means
	// the default Azure credential chain (developer logins, workload or
	// system-assigned identity). Default: empty.
	AzureClientID string
	// Broker (BROKER) selects the message broker: "servicebus" or "rabbitmq".
	// Default: servicebus.
	Broker string
	// ServiceBusConnection (ServiceBusConnection) is a Service Bus connection
	// string. Default: empty; then ServiceBusNamespace must be set when
	// Broker is servicebus.
	ServiceBusConnection string
	// ServiceBusNamespace (ServiceBusConnection__fullyQualifiedNamespace) is
	// the namespace host name used with an Entra ID credential instead of a
	// connection string. Default: empty.
	ServiceBusNamespace string
	// ServiceBusCredential (ServiceBusConnection__credential) is
	// "managedidentity" to use a managed identity; anything else uses the
	// default Azure credential chain. Default: empty.
	ServiceBusCredential string
	// ServiceBusClientID (ServiceBusConnection__clientId) is the client ID of
	// a user-assigned managed identity. Default: empty (system-assigned).
	ServiceBusClientID string
	// RabbitMQConnection (RabbitMQConnection) is the AMQP 0-9-1 URI.
	// Default: amqp://guest:guest@127.0.0.1:5672/.
	RabbitMQConnection string
	// RabbitMQSecretARN (RABBITMQ_SECRET_ARN) is the ARN of an AWS Secrets
	// Manager secret {"username": ..., "password": ...} (the one the Amazon
	// MQ event source mapping reads) whose credentials the app puts into
	// RabbitMQConnection at start, so the URI itself carries none. Default:
	// empty (the URI's own credentials).
	RabbitMQSecretARN string
	// RabbitMQQueueType (RABBITMQ_QUEUE_TYPE) is how the consumers' queues
	// are declared: "classic" (the Functions host counts attempts itself
	// and republishes) or "quorum" (the broker counts deliveries and
	// dead-letters a message after the topology's maxDeliveryCount, which
	// consumers that cannot republish need: AWS Lambda's Amazon MQ event
	// source). An existing queue keeps its type. Default: classic.
	RabbitMQQueueType string
	// SMTPHost (SMTP_HOST) is the SMTP server host. Default: empty, which
	// means emails are logged and recorded but not sent.
	SMTPHost string
	// SMTPPort (SMTP_PORT) is the SMTP server port. Default: 587.
	SMTPPort int
	// SMTPUsername (SMTP_USERNAME) enables SMTP AUTH PLAIN when set.
	// Default: empty (no authentication).
	SMTPUsername string
	// SMTPPassword (SMTP_PASSWORD) is the SMTP AUTH password. Default: empty.
	SMTPPassword string
	// SMTPFrom (SMTP_FROM) is the sender address of emails.
	// Default: orders@orderflow.localhost.
	SMTPFrom string
}

// PostgreSQL authentication modes accepted in POSTGRES_AUTH.
const (
	PostgresAuthPassword = "password"
	PostgresAuthEntra    = "entra"
	PostgresAuthRDSIAM   = "rds-iam"
)

// RabbitMQ queue types accepted in RABBITMQ_QUEUE_TYPE.
const (
	QueueClassic = "classic"
	QueueQuorum  = "quorum"
)

// Defaults.
const (
	DefaultDatabaseURL        = "postgres://postgres@127.0.0.1:5432/orders?sslmode=disable"
	DefaultPostgresAuth       = PostgresAuthPassword
	DefaultPostgresPort       = 5432
	DefaultPostgresSSLMode    = "require"
	DefaultBroker             = BrokerServiceBus
	DefaultRabbitMQConnection = "amqp://guest:guest@127.0.0.1:5672/"
	DefaultRabbitMQQueueType  = QueueClassic
	DefaultSMTPPort           = 587
	DefaultSMTPFrom           = "orders@orderflow.localhost"
)

// Environment variable names, as they appear in app settings.
const (
	EnvDatabaseURL          = "DATABASE_URL"
	EnvPostgresAuth         = "POSTGRES_AUTH"
	EnvPostgresHost         = "POSTGRES_HOST"
	EnvPostgresPort         = "POSTGRES_PORT"
	EnvPostgresDatabase     = "POSTGRES_DATABASE"
	EnvPostgresUser         = "POSTGRES_USER"
	EnvPostgresSSLMode      = "POSTGRES_SSLMODE"
	EnvAWSRegion            = "AWS_REGION"
	EnvAzureClientID        = "AZURE_CLIENT_ID"
	EnvBroker               = "BROKER"
	EnvServiceBusConnection = "ServiceBusConnection"
	EnvServiceBusNamespace  = "ServiceBusConnection__fullyQualifiedNamespace"
	EnvServiceBusCredential = "ServiceBusConnection__credential"
	EnvServiceBusClientID   = "ServiceBusConnection__clientId"
	EnvRabbitMQConnection   = "RabbitMQConnection"
	EnvRabbitMQQueueType    = "RABBITMQ_QUEUE_TYPE"
	EnvRabbitMQSecretARN    = "RABBITMQ_SECRET_ARN"
	EnvSMTPHost             = "SMTP_HOST"
	EnvSMTPPort             = "SMTP_PORT"
	EnvSMTPUsername         = "SMTP_USERNAME"
	EnvSMTPPassword         = "SMTP_PASSWORD"
	EnvSMTPFrom             = "SMTP_FROM"
)

// Names lists every environment variable the handler reads, so that
// consistency checks can compare it with local.settings.json and Bicep.
func Names() []string {
	return []string{
		EnvDatabaseURL,
		EnvPostgresAuth, EnvPostgresHost, EnvPostgresPort, EnvPostgresDatabase, EnvPostgresUser, EnvPostgresSSLMode,
		EnvAWSRegion, EnvAzureClientID,
		EnvBroker,
		EnvServiceBusConnection, EnvServiceBusNamespace, EnvServiceBusCredential, EnvServiceBusClientID,
		EnvRabbitMQConnection, EnvRabbitMQQueueType, EnvRabbitMQSecretARN,
		EnvSMTPHost, EnvSMTPPort, EnvSMTPUsername, EnvSMTPPassword, EnvSMTPFrom,
	}
}

// FromEnv loads Settings from the process environment.
func FromEnv() (Settings, error) { return Load(os.LookupEnv) }

// Load loads Settings through lookup (os.LookupEnv in production), applies
// defaults and validates the result.
func Load(lookup func(string) (string, bool)) (Settings, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	s := Settings{
		DatabaseURL:          get(EnvDatabaseURL),
		PostgresAuth:         strings.ToLower(get(EnvPostgresAuth)),
		PostgresHost:         get(EnvPostgresHost),
		PostgresDatabase:     get(EnvPostgresDatabase),
		PostgresUser:         get(EnvPostgresUser),
		PostgresSSLMode:      strings.ToLower(get(EnvPostgresSSLMode)),
		AWSRegion:            get(EnvAWSRegion),
		AzureClientID:        get(EnvAzureClientID),
		Broker:               strings.ToLower(get(EnvBroker)),
		ServiceBusConnection: get(EnvServiceBusConnection),
		ServiceBusNamespace:  get(EnvServiceBusNamespace),
		ServiceBusCredential: get(EnvServiceBusCredential),
		ServiceBusClientID:   get(EnvServiceBusClientID),
		RabbitMQConnection:   get(EnvRabbitMQConnection),
		RabbitMQQueueType:    strings.ToLower(get(EnvRabbitMQQueueType)),
		RabbitMQSecretARN:    get(EnvRabbitMQSecretARN),
		SMTPHost:             get(EnvSMTPHost),
		SMTPUsername:         get(EnvSMTPUsername),
		SMTPPassword:         get(EnvSMTPPassword),
		SMTPFrom:             get(EnvSMTPFrom),
	}
	var err error
	if s.SMTPPort, err = port(EnvSMTPPort, get(EnvSMTPPort)); err != nil {
		return Settings{}, err
	}
	if s.PostgresPort, err = port(EnvPostgresPort, get(EnvPostgresPort)); err != nil {
		return Settings{}, err
	}
	// Checked before defaults so that an explicit DATABASE_URL is told
	// apart from the default one.
	if err := s.validatePostgres(); err != nil {
		return Settings{}, err
	}
	s = s.withDefaults()
	if err := s.validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// port parses an optional port number; empty gives 0 (the default).
func port(name, v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("setting %s: %q is not a port number", name, v)
	}
	return n, nil
}

func (s Settings) withDefaults() Settings {
	if s.PostgresAuth == "" {
		s.PostgresAuth = DefaultPostgresAuth
	}
	if s.PostgresAuth == PostgresAuthPassword && s.DatabaseURL == "" {
		s.DatabaseURL = DefaultDatabaseURL
	}
	if s.TokenAuth() {
		if s.PostgresPort == 0 {
			s.PostgresPort = DefaultPostgresPort
		}
		if s.PostgresSSLMode == "" {
			s.PostgresSSLMode = DefaultPostgresSSLMode
		}
	}
	if s.Broker == "" {
		s.Broker = DefaultBroker
	}
	if s.RabbitMQConnection == "" {
		s.RabbitMQConnection = DefaultRabbitMQConnection
	}
	if s.RabbitMQQueueType == "" {
		s.RabbitMQQueueType = DefaultRabbitMQQueueType
	}
	if s.SMTPPort == 0 {
		s.SMTPPort = DefaultSMTPPort
	}
	if s.SMTPFrom == "" {
		s.SMTPFrom = DefaultSMTPFrom
	}
	return s
}

// sslModes are the libpq sslmode values pgx understands.
var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// validatePostgres rejects mixed or incomplete PostgreSQL settings instead
// of silently connecting somewhere else than meant.
func (s Settings) validatePostgres() error {
	parts := []struct {
		name string
		set  bool
	}{
		{EnvPostgresHost, s.PostgresHost != ""}, {EnvPostgresPort, s.PostgresPort != 0},
		{EnvPostgresDatabase, s.PostgresDatabase != ""}, {EnvPostgresUser, s.PostgresUser != ""},
		{EnvPostgresSSLMode, s.PostgresSSLMode != ""},
	}
	switch s.PostgresAuth {
	case "", PostgresAuthPassword:
		for _, p := range parts {
			if p.set {
				return fmt.Errorf("setting %s is only used with %s=%s or %s; set one or remove it and use %s",
					p.name, EnvPostgresAuth, PostgresAuthEntra, PostgresAuthRDSIAM, EnvDatabaseURL)
			}
		}
	case PostgresAuthEntra, PostgresAuthRDSIAM:
		if s.DatabaseURL != "" {
			return fmt.Errorf("setting %s must be empty with %s=%s, which connects to %s/%s as %s",
				EnvDatabaseURL, EnvPostgresAuth, s.PostgresAuth, EnvPostgresHost, EnvPostgresDatabase, EnvPostgresUser)
		}
		if s.PostgresAuth == PostgresAuthRDSIAM && s.AWSRegion == "" {
			return fmt.Errorf("setting %s=%s needs %s", EnvPostgresAuth, PostgresAuthRDSIAM, EnvAWSRegion)
		}
		for _, p := range []struct{ name, v string }{
			{EnvPostgresHost, s.PostgresHost}, {EnvPostgresDatabase, s.PostgresDatabase}, {EnvPostgresUser, s.PostgresUser},
		} {
			if p.v == "" {
				return fmt.Errorf("setting %s=%s needs %s", EnvPostgresAuth, s.PostgresAuth, p.name)
			}
		}
		if !validHost(s.PostgresHost) {
			return fmt.Errorf("setting %s: %q is not a host name or IP address", EnvPostgresHost, s.PostgresHost)
		}
		for _, p := range []struct{ name, v string }{{EnvPostgresDatabase, s.PostgresDatabase}, {EnvPostgresUser, s.PostgresUser}} {
			if strings.ContainsFunc(p.v, unicode.IsControl) {
				return fmt.Errorf("setting %s: %q contains control characters", p.name, p.v)
			}
		}
		if s.PostgresSSLMode != "" && !slices.Contains(sslModes, s.PostgresSSLMode) {
			return fmt.Errorf("setting %s: %q is not one of %s", EnvPostgresSSLMode, s.PostgresSSLMode, strings.Join(sslModes, ", "))
		}
	default:
		return fmt.Errorf("setting %s: %q is not one of %s, %s, %s", EnvPostgresAuth, s.PostgresAuth, PostgresAuthPassword, PostgresAuthEntra, PostgresAuthRDSIAM)
	}
	return nil
}

// validHost accepts an IP address or a DNS name (letters, digits, '-',
// '_' and dots).
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	return h != "" && !strings.ContainsFunc(h, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	})
}

// TokenAuth reports whether PostgreSQL logins use a token as password
// (entra or rds-iam) rather than DATABASE_URL.
func (s Settings) TokenAuth() bool {
	return s.PostgresAuth == PostgresAuthEntra || s.PostgresAuth == PostgresAuthRDSIAM
}

// PostgresURL is the connection URL to open: DatabaseURL with password
// auth, or one built from the POSTGRES_* settings (no password: the
// token is supplied per connection) with entra or rds-iam auth.
func (s Settings) PostgresURL() string {
	if !s.TokenAuth() {
		return s.DatabaseURL
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(s.PostgresUser),
		Host:     net.JoinHostPort(s.PostgresHost, strconv.Itoa(s.PostgresPort)),
		Path:     "/" + s.PostgresDatabase,
		RawQuery: url.Values{"sslmode": {s.PostgresSSLMode}}.Encode(),
	}
	return u.String()
}

func (s Settings) validate() error {
	if s.RabbitMQQueueType != QueueClassic && s.RabbitMQQueueType != QueueQuorum {
		return fmt.Errorf("setting %s: %q is neither %q nor %q", EnvRabbitMQQueueType, s.RabbitMQQueueType, QueueClassic, QueueQuorum)
	}
	switch s.Broker {
	case BrokerRabbitMQ:
	case BrokerServiceBus:
		if s.ServiceBusConnection == "" && s.ServiceBusNamespace == "" {
			return fmt.Errorf("setting %s=servicebus needs %s or %s", EnvBroker, EnvServiceBusConnection, EnvServiceBusNamespace)
		}
	default:
		return fmt.Errorf("setting %s: %q is neither %q nor %q", EnvBroker, s.Broker, BrokerServiceBus, BrokerRabbitMQ)
	}
	return nil
}

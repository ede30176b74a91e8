// Package setting loads the handler's configuration from environment
// variables, which is how both the Azure Functions host and our local host
// hand app settings (local.settings.json Values) to a custom handler.
package setting

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Broker names accepted in BROKER.
const (
	BrokerServiceBus = "servicebus"
	BrokerRabbitMQ   = "rabbitmq"
)

// Settings is everything the handler reads from its environment. The zero
// value of a field means its default; Load fills the defaults in.
type Settings struct {
	// DatabaseURL (DATABASE_URL) is the PostgreSQL connection URL.
	// Default: postgres://postgres@127.0.0.1:5432/orders?sslmode=disable.
	// The database is created if it does not exist.
	DatabaseURL string
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

// Defaults.
const (
	DefaultDatabaseURL        = "postgres://postgres@127.0.0.1:5432/orders?sslmode=disable"
	DefaultBroker             = BrokerServiceBus
	DefaultRabbitMQConnection = "amqp://guest:guest@127.0.0.1:5672/"
	DefaultSMTPPort           = 587
	DefaultSMTPFrom           = "orders@orderflow.localhost"
)

// Environment variable names, as they appear in app settings.
const (
	EnvDatabaseURL          = "DATABASE_URL"
	EnvBroker               = "BROKER"
	EnvServiceBusConnection = "ServiceBusConnection"
	EnvServiceBusNamespace  = "ServiceBusConnection__fullyQualifiedNamespace"
	EnvServiceBusCredential = "ServiceBusConnection__credential"
	EnvServiceBusClientID   = "ServiceBusConnection__clientId"
	EnvRabbitMQConnection   = "RabbitMQConnection"
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
		EnvDatabaseURL, EnvBroker,
		EnvServiceBusConnection, EnvServiceBusNamespace, EnvServiceBusCredential, EnvServiceBusClientID,
		EnvRabbitMQConnection,
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
		Broker:               strings.ToLower(get(EnvBroker)),
		ServiceBusConnection: get(EnvServiceBusConnection),
		ServiceBusNamespace:  get(EnvServiceBusNamespace),
		ServiceBusCredential: get(EnvServiceBusCredential),
		ServiceBusClientID:   get(EnvServiceBusClientID),
		RabbitMQConnection:   get(EnvRabbitMQConnection),
		SMTPHost:             get(EnvSMTPHost),
		SMTPUsername:         get(EnvSMTPUsername),
		SMTPPassword:         get(EnvSMTPPassword),
		SMTPFrom:             get(EnvSMTPFrom),
	}
	if p := get(EnvSMTPPort); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Settings{}, fmt.Errorf("setting %s: %q is not a port number", EnvSMTPPort, p)
		}
		s.SMTPPort = n
	}
	s = s.withDefaults()
	if err := s.validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

func (s Settings) withDefaults() Settings {
	if s.DatabaseURL == "" {
		s.DatabaseURL = DefaultDatabaseURL
	}
	if s.Broker == "" {
		s.Broker = DefaultBroker
	}
	if s.RabbitMQConnection == "" {
		s.RabbitMQConnection = DefaultRabbitMQConnection
	}
	if s.SMTPPort == 0 {
		s.SMTPPort = DefaultSMTPPort
	}
	if s.SMTPFrom == "" {
		s.SMTPFrom = DefaultSMTPFrom
	}
	return s
}

func (s Settings) validate() error {
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

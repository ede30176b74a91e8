// Package app wires the order app from its settings: the PostgreSQL store
// (password, Microsoft Entra ID or Amazon RDS IAM login), the broker
// publisher and the mailer, and the handler over them. Every entry point
// (the Azure Functions custom handler, the AWS Lambda bootstrap) builds the
// same app through it, so both clouds run one configuration.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/exaring/otelpgx"

	"github.com/orderflow/orderflow/functions/handler"
	"github.com/orderflow/orderflow/shared/bus"
	"github.com/orderflow/orderflow/shared/bus/rabbitmq"
	"github.com/orderflow/orderflow/shared/bus/servicebus"
	"github.com/orderflow/orderflow/shared/email"
	"github.com/orderflow/orderflow/shared/setting"
	"github.com/orderflow/orderflow/shared/store"
	"github.com/orderflow/orderflow/telemetry"
)

// StoreConfig configures PostgreSQL from the settings: DATABASE_URL (the
// database is created if missing), or with POSTGRES_AUTH=entra|rds-iam the
// POSTGRES_* server with a token as the password of every new connection.
// cred is the token source; nil picks it from the settings (Entra:
// AZURE_CLIENT_ID via store.Credential; RDS IAM: the AWS default
// credential chain, which on Lambda is the execution role). A token role
// may not create databases: the deployment provisions the database.
func StoreConfig(ctx context.Context, cfg setting.Settings, cred azcore.TokenCredential, log *slog.Logger) (store.Config, error) {
	sc := store.Config{URL: cfg.PostgresURL(), Logger: log}
	if !cfg.TokenAuth() {
		return sc, nil
	}
	if cred == nil {
		var err error
		if cred, err = credential(ctx, cfg); err != nil {
			return store.Config{}, err
		}
	}
	tp, err := store.NewTokenPassword(store.TokenConfig{Credential: cred})
	if err != nil {
		return store.Config{}, err
	}
	sc.BeforeConnect = tp.BeforeConnect
	sc.SkipCreateDatabase = true
	return sc, nil
}

func credential(ctx context.Context, cfg setting.Settings) (azcore.TokenCredential, error) {
	switch cfg.PostgresAuth {
	case setting.PostgresAuthRDSIAM:
		ac, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.AWSRegion))
		if err != nil {
			return nil, fmt.Errorf("PostgreSQL RDS IAM credential: loading AWS config: %w", err)
		}
		return store.RDSToken{Endpoint: net.JoinHostPort(cfg.PostgresHost, strconv.Itoa(cfg.PostgresPort)),
			Region: cfg.AWSRegion, User: cfg.PostgresUser, Credentials: ac.Credentials}, nil
	default:
		c, err := store.Credential(cfg.AzureClientID)
		if err != nil {
			return nil, fmt.Errorf("PostgreSQL Entra ID credential: %w", err)
		}
		return c, nil
	}
}

// Mailer is the SMTP sender of SMTP_HOST, or the log-only sender.
func Mailer(cfg setting.Settings, log *slog.Logger) email.Sender {
	if cfg.SMTPHost == "" {
		log.Info("SMTP_HOST is not set: confirmation emails are logged and recorded, not sent")
		return email.NewLog(log)
	}
	return email.NewSMTP(email.SMTPConfig{Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword})
}

// Publisher is the broker publisher BROKER selects.
func Publisher(cfg setting.Settings, log *slog.Logger) (bus.Publisher, error) {
	if cfg.Broker == setting.BrokerRabbitMQ {
		return rabbitmq.New(rabbitmq.Config{URL: cfg.RabbitMQConnection, Logger: log,
			Quorum: cfg.RabbitMQQueueType == setting.QueueQuorum}), nil
	}
	return servicebus.New(servicebus.Config{
		ConnectionString: cfg.ServiceBusConnection,
		Namespace:        cfg.ServiceBusNamespace,
		Credential:       cfg.ServiceBusCredential,
		ClientID:         cfg.ServiceBusClientID,
	})
}

// App is the wired app: the handler and what it holds open.
type App struct {
	// Handler serves every function.
	Handler *handler.Handler
	// Store is the open PostgreSQL store.
	Store *store.Store
	// Publisher is the broker publisher.
	Publisher bus.Publisher

	mailer email.Sender
}

// Open opens the store (migrating it), the publisher and the handler.
// The broker is checked (RabbitMQ: the topology declared) but an
// unreachable broker only logs: events wait in the outbox. tel traces the
// handler and its database work; nil is off. configure, if given, adjusts
// the handler's Config last (the custom handler sets the route prefix from
// host.json).
func Open(ctx context.Context, cfg setting.Settings, log *slog.Logger, tel *telemetry.Telemetry, configure ...func(*handler.Config)) (*App, error) {
	stCfg, err := StoreConfig(ctx, cfg, nil, log)
	if err != nil {
		return nil, err
	}
	if tel.Enabled() {
		// Pool acquire spans would double the span count for little insight.
		stCfg.Tracer = otelpgx.NewTracer(otelpgx.WithTracerProvider(tel.Tracer), otelpgx.WithMeterProvider(tel.Meter), otelpgx.WithDisableAcquireTracer())
	}
	openCtx, cancel := context.WithTimeout(ctx, 25*time.Second)
	st, err := store.Open(openCtx, stCfg)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	if tel.Enabled() {
		if err := otelpgx.RecordStats(st.Pool(), otelpgx.WithStatsMeterProvider(tel.Meter)); err != nil {
			log.Warn("pool metrics unavailable", "err", err)
		}
	}
	if cfg, err = WithBrokerSecret(ctx, cfg, nil); err != nil {
		st.Close()
		return nil, err
	}
	pub, err := Publisher(cfg, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	checkCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := pub.Check(checkCtx); err != nil {
		log.Warn("broker not reachable at start; events wait in the outbox", "broker", cfg.Broker, "err", err)
	}
	cancel()
	mailer := Mailer(cfg, log)
	hcfg := handler.Config{Store: st, Publisher: pub, Broker: cfg.Broker, Logger: log, Mailer: mailer, EmailFrom: cfg.SMTPFrom,
		Telemetry: tel}
	for _, c := range configure {
		c(&hcfg)
	}
	h, err := handler.New(hcfg)
	if err != nil {
		_ = pub.Close(context.WithoutCancel(ctx))
		st.Close()
		return nil, err
	}
	return &App{Handler: h, Store: st, Publisher: pub, mailer: mailer}, nil
}

// Close closes the publisher, the mailer's idle SMTP sessions and the store.
func (a *App) Close(ctx context.Context) {
	_ = a.Publisher.Close(ctx)
	if c, ok := a.mailer.(io.Closer); ok {
		_ = c.Close()
	}
	a.Store.Close()
}

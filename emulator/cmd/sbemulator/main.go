// Command sbemulator runs the Service Bus emulator standalone in the foreground.
//
//	sbemulator [-config Config.json] [-auth Auth.json] [-amqp-port 5673] [-http-port 5300]
//	           [-amqps-port 5671] [-https-port 5443] [-cert-dir DIR | -tls-cert FILE -tls-key FILE]
//	           [-allow-anonymous] [-accept-unverified-jwt] [-log-level info]
//
// Flags default to the environment variables EMULATOR_CONFIG, EMULATOR_AUTH_CONFIG,
// EMULATOR_AMQP_PORT, EMULATOR_HTTP_PORT, EMULATOR_AMQPS_PORT, EMULATOR_HTTPS_PORT,
// EMULATOR_CERT_DIR, EMULATOR_TLS_CERT and EMULATOR_TLS_KEY. The AMQP default is 5673 because
// RabbitMQ holds 5672. AMQPS (5671) and HTTPS (AMQP over WebSockets, 5443) use the certificate
// given by -tls-cert/-tls-key or one generated on first start into -cert-dir (default
// $XDG_CONFIG_HOME/orderflow/sbemulator): trust its ca.crt (README, "Transports"). A negative
// port turns that listener off.
// Authorization is strict by default, as on Service Bus (docs/servicebus-auth.md);
// -allow-anonymous turns it off.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sbemulator:", err)
		os.Exit(1)
	}
}

func run() error {
	configPath := flag.String("config", os.Getenv("EMULATOR_CONFIG"), "Config.json in the official emulator's schema (env EMULATOR_CONFIG)")
	amqpPort := flag.Int("amqp-port", envInt(os.Getenv, "EMULATOR_AMQP_PORT", 5673), "AMQP port (env EMULATOR_AMQP_PORT)")
	httpPort := flag.Int("http-port", envInt(os.Getenv, "EMULATOR_HTTP_PORT", 5300), "HTTP port: health and the administration API (env EMULATOR_HTTP_PORT)")
	host := flag.String("host", "127.0.0.1", "listen address")
	amqpsPort := flag.Int("amqps-port", envInt(os.Getenv, "EMULATOR_AMQPS_PORT", 5671), "AMQP over TLS port, negative = off (env EMULATOR_AMQPS_PORT)")
	httpsPort := flag.Int("https-port", envInt(os.Getenv, "EMULATOR_HTTPS_PORT", 5443), "HTTPS port: AMQP over WebSockets and the HTTP API, negative = off (env EMULATOR_HTTPS_PORT)")
	certDir := flag.String("cert-dir", envOr(os.Getenv, "EMULATOR_CERT_DIR", servicebus.DefaultCertDir()), "where the generated TLS certificate is kept; trust its ca.crt (env EMULATOR_CERT_DIR)")
	certFile := flag.String("tls-cert", os.Getenv("EMULATOR_TLS_CERT"), "PEM certificate chain to serve instead of a generated one (env EMULATOR_TLS_CERT)")
	keyFile := flag.String("tls-key", os.Getenv("EMULATOR_TLS_KEY"), "PEM key of -tls-cert (env EMULATOR_TLS_KEY)")
	authPath := flag.String("auth", os.Getenv("EMULATOR_AUTH_CONFIG"), "shared access policies JSON (env EMULATOR_AUTH_CONFIG; default: Auth.json next to -config if present)")
	anonymous := flag.Bool("allow-anonymous", false, "turn authorization off: no SASL or CBS token needed (tokens put are still checked)")
	unverifiedJWT := flag.Bool("accept-unverified-jwt", false, "accept Entra (jwt) tokens WITHOUT checking their signature; audience and expiry are still checked")
	maxSessions := flag.Int("max-sessions-per-connection", servicebus.DefaultMaxSessionsPerConnection, "sessions one connection may open")
	maxLinks := flag.Int("max-links-per-connection", servicebus.DefaultMaxLinksPerConnection, "links one connection may attach, across its sessions")
	maxPending := flag.Int64("max-pending-bytes", servicebus.DefaultMaxPendingBytes, "bytes one connection may hold in unfinished deliveries and responses waiting for credit")
	dataDir := flag.String("data-dir", os.Getenv("EMULATOR_DATA_DIR"), "directory of the write-ahead log that makes messages survive restarts and crashes (env EMULATOR_DATA_DIR; default: memory only)")
	compactGrowth := flag.Int64("compact-growth", servicebus.DefaultCompactGrowth, "bytes the -data-dir log may grow by before it is compacted while running")
	hotBytes := flag.Int64("hot-bytes", servicebus.DefaultHotBytes, "with -data-dir, bytes of stored messages kept in memory; past it the oldest are read back from the log when needed (-1: keep all in memory)")
	level := flag.String("log-level", "info", "debug, info, warn or error")
	flag.Parse()

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("parsing -log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := servicebus.Start(ctx, servicebus.Config{
		AMQPAddr:            net.JoinHostPort(*host, strconv.Itoa(*amqpPort)),
		HTTPAddr:            net.JoinHostPort(*host, strconv.Itoa(*httpPort)),
		AMQPSAddr:           optionalAddr(*host, *amqpsPort),
		HTTPSAddr:           optionalAddr(*host, *httpsPort),
		CertDir:             *certDir,
		CertFile:            *certFile,
		KeyFile:             *keyFile,
		ConfigPath:          *configPath,
		AuthPath:            *authPath,
		AllowAnonymous:      *anonymous,
		AcceptUnverifiedJWT: *unverifiedJWT,
		DataDir:             *dataDir,
		CompactGrowth:       *compactGrowth,
		HotBytes:            *hotBytes,
		Logger:              log,

		MaxSessionsPerConnection: *maxSessions,
		MaxLinksPerConnection:    *maxLinks,
		MaxPendingBytes:          *maxPending,
	})
	if err != nil {
		return err
	}
	fmt.Println(srv.ConnectionString())
	if admin := srv.AdminConnectionString(); admin != "" {
		fmt.Println(admin) // for the administration clients (README: Administration API)
	}
	log.Info("ready", "amqp", srv.AMQPAddr(), "http", srv.HTTPAddr(), "amqps", srv.AMQPSAddr(), "https", srv.HTTPSAddr())
	<-ctx.Done()
	log.Info("stopping")
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Stop(stopCtx)
}

// envInt reads an integer setting from the environment, def when unset or not a number.
func envInt(getenv func(string) string, name string, def int) int {
	if v, err := strconv.Atoi(getenv(name)); err == nil {
		return v
	}
	return def
}

// envOr reads a string setting from the environment, def when unset.
func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// optionalAddr is host:port, or "" (listener off) for a negative port.
func optionalAddr(host string, port int) string {
	if port < 0 {
		return ""
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

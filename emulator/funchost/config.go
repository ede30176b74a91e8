package funchost

import (
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/orderflow/orderflow/telemetry"
)

// Config configures a Host. The zero value runs the app in the current
// directory on 127.0.0.1:7071 with one handler instance.
type Config struct {
	// AppDir is the function app root holding host.json. Default ".".
	AppDir string
	// Addr is the listen address of the HTTP front. Default "127.0.0.1:7071";
	// tests use "127.0.0.1:0" and read Host.URL.
	Addr string
	// Settings are app settings applied over local.settings.json Values and the
	// process environment (they win over both). Default none.
	Settings map[string]string
	// EnforceAuth enforces function.json authLevel like `func start --enableAuth`.
	// Keys come from the settings MasterKeySetting, HostKeySetting and
	// FunctionKeySettingPrefix+<Function>. Default false (func start: everything
	// is anonymous-allowed).
	EnforceAuth bool
	// Instances is the number of handler processes; invocations are spread over
	// them round-robin. Default 1.
	Instances int
	// Logger receives host logs. Default slog.Default().
	Logger *slog.Logger
	// Stdout receives the handler's stdout lines (prefixed with app and
	// instance) and the function list printed on start. Default os.Stdout.
	Stdout io.Writer
	// Stderr receives the handler's stderr lines. Default os.Stderr.
	Stderr io.Writer
	// ReadyTimeout bounds the wait for the handler's GET / readiness. Default
	// 30s, the real host's InitializationTimeout (functions-protocol 1.2).
	ReadyTimeout time.Duration
	// RestartWindow is the window in which 3 handler failures make the host
	// give up (functions-protocol 1.2). Default 30 minutes, the real host's
	// WorkerRestartErrorIntervalThresholdInMinutes.
	RestartWindow time.Duration
	// DrainTimeout bounds Stop when its context has no deadline: in-flight
	// invocations get this long before the handler is terminated. Default 10s.
	DrainTimeout time.Duration
	// AllowedHosts are Host header names (without port, case-insensitive)
	// served besides loopback ones (localhost, *.localhost, 127.0.0.0/8,
	// ::1). Any other Host gets 403, which defeats DNS rebinding. "*" allows
	// every host. Default none.
	AllowedHosts []string
	// BodyReadTimeout bounds reading an HTTP request body. The body is read
	// whole before the invocation takes a handler slot, so a slow client gets
	// 408 and never holds the handler or trips functionTimeout. It is also
	// the per-write deadline when streaming a proxied response. Default 30s.
	BodyReadTimeout time.Duration
	// MaxBufferedBodyBytes bounds the request-body bytes held by all clients
	// at once (each body is read whole before its invocation, up to 100 MB).
	// A request that would go past it gets 503 with Retry-After, so many
	// large concurrent uploads cannot exhaust the host's memory. Default
	// 256 MiB.
	MaxBufferedBodyBytes int64
	// KillTimeout is how long a handler has to exit after SIGTERM before it is
	// killed. Default 5s.
	KillTimeout time.Duration
	// Telemetry traces invocations and records the host's metrics.
	// Default: telemetry.Disabled().
	Telemetry *telemetry.Telemetry
}

// Setting names read when Config.EnforceAuth is set. They are local names of
// this host (the real host keeps keys in its secrets store).
const (
	// MasterKeySetting holds the master (admin) key; it also opens every function.
	MasterKeySetting = "FUNCHOST_MASTER_KEY"
	// HostKeySetting holds a host key, accepted by every function-level function.
	HostKeySetting = "FUNCHOST_HOST_KEY"
	// FunctionKeySettingPrefix + <FunctionName> holds that function's key.
	FunctionKeySettingPrefix = "FUNCHOST_FUNCTION_KEY_"
)

func (c Config) withDefaults() Config {
	if c.AppDir == "" {
		c.AppDir = "."
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:7071"
	}
	if c.Instances <= 0 {
		c.Instances = 1
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = 30 * time.Second
	}
	if c.RestartWindow <= 0 {
		c.RestartWindow = 30 * time.Minute
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.BodyReadTimeout <= 0 {
		c.BodyReadTimeout = 30 * time.Second
	}
	if c.MaxBufferedBodyBytes <= 0 {
		c.MaxBufferedBodyBytes = 256 << 20
	}
	if c.KillTimeout <= 0 {
		c.KillTimeout = 5 * time.Second
	}
	if c.Telemetry == nil {
		c.Telemetry = telemetry.Disabled()
	}
	return c
}

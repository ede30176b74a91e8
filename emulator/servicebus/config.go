package servicebus

import (
	"log/slog"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/clock"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/auth"
)

// Defaults of Config. The AMQP port is 5673, not the standard 5672, because RabbitMQ holds 5672
// on the development machines; the HTTP port is the official emulator's 5300.
const (
	DefaultAMQPAddr       = "127.0.0.1:5673"
	DefaultHTTPAddr       = "127.0.0.1:5300"
	DefaultKeyName        = "RootManageSharedAccessKey"
	DefaultKey            = "SAS_KEY_VALUE"
	DefaultTokenTimeout   = 20 * time.Second // Service Bus's grace for a connection's first CBS token
	DefaultMaxFrameSize   = 65536
	DefaultMaxMessageSize = 262144
	DefaultIdleTimeout    = 60 * time.Second
	// DefaultAcceptNextSessionTimeout is Service Bus's own wait for accept-next-session.
	DefaultAcceptNextSessionTimeout = 60 * time.Second
	// DefaultMaxSessionsPerConnection bounds the sessions of one connection; the server
	// announces channel-max one below it.
	DefaultMaxSessionsPerConnection = 1024
	// DefaultMaxLinksPerConnection bounds the links of one connection, across its sessions.
	DefaultMaxLinksPerConnection = 1024
	// DefaultMaxPendingBytes bounds what one connection buffers: unfinished incoming deliveries
	// plus $cbs and $management responses waiting for link credit.
	DefaultMaxPendingBytes = 16 << 20
	// DefaultCompactGrowth is the default Config.CompactGrowth.
	DefaultCompactGrowth = 64 << 20
	// DefaultHotBytes is the default Config.HotBytes.
	DefaultHotBytes = 256 << 20
)

// Config configures a Server. The zero value is valid and means every default.
type Config struct {
	// AMQPAddr is the AMQP 1.0 listen address. Default "127.0.0.1:5673"; use "127.0.0.1:0" in tests.
	AMQPAddr string
	// HTTPAddr is the listen address of the health endpoint. Default "127.0.0.1:5300"; "-" disables it.
	HTTPAddr string
	// AMQPSAddr is the listen address of AMQP over TLS (AMQPS, Service Bus's port 5671), served
	// with the certificate of CertFile/KeyFile or a generated one (see CertDir). Default "": off.
	AMQPSAddr string
	// HTTPSAddr is the listen address of HTTPS with the same certificate: AMQP over WebSockets at
	// wss://host:port/$servicebus/websocket (subprotocol amqp or AMQPWSB10) and the HTTP API of
	// HTTPAddr. Service Bus serves both on 443. Default "": off.
	HTTPSAddr string
	// CertFile and KeyFile are a PEM certificate (chain) and its key for the TLS listeners.
	// Default "": a certificate the emulator generates for localhost, 127.0.0.1 and ::1.
	CertFile, KeyFile string
	// CertDir keeps a generated certificate across restarts: ca.crt (the CA clients trust),
	// server.crt and server.key, created on first start with TLS and reused while valid.
	// Default "": a new certificate in memory at each start (Server.CACertPEM returns its CA).
	CertDir string
	// ConfigPath is a Config.json in the official emulator's schema whose entities are created at
	// start. Default "": start without entities.
	ConfigPath string
	// Policies are the shared access policies that sign tokens and SASL PLAIN logins. Default:
	// RootManageSharedAccessKey / SAS_KEY_VALUE with Manage, Send and Listen on the namespace, as
	// in the official emulator's sample. Policies from AuthPath are added to these (a file entry
	// replaces a policy of the same name).
	Policies []SharedAccessPolicy
	// AuthPath is a JSON file of more shared access policies (see internal/config.Auth). Default
	// "": the file Auth.json next to ConfigPath when it exists, else none.
	AuthPath string
	// AllowAnonymous turns authorization off: clients may skip SASL and attach links and call
	// $management without a CBS token (tokens that are put are still verified). Default false:
	// every link and $management operation needs a token with the right claim, as on Service Bus.
	AllowAnonymous bool
	// AcceptUnverifiedJWT accepts Entra tokens (CBS token type jwt) without verifying their
	// signature, checking only audience and expiry; they grant every claim. Default false.
	AcceptUnverifiedJWT bool
	// TokenTimeout is how long a connection may stay open without putting a valid token on $cbs
	// (or logging in with SASL PLAIN); then it is closed with amqp:unauthorized-access, as
	// Service Bus does. Not applied with AllowAnonymous. Default 20 s.
	TokenTimeout time.Duration
	// MaxFrameSize is the largest frame the server accepts, announced in open. Default 65536.
	MaxFrameSize uint32
	// MaxMessageSize is the largest message a client may send, announced on attach; larger
	// deliveries end the link with amqp:link:message-size-exceeded. Default 262144 (256 KiB).
	MaxMessageSize uint32
	// IdleTimeout is announced in open: a connection silent for that long is closed. Default 60 s.
	IdleTimeout time.Duration
	// AcceptNextSessionTimeout is how long an accept-next-session attach waits for a free session
	// with available messages when the client sends no com.microsoft:timeout link property; then
	// the attach is refused with com.microsoft:timeout (like a client's timeout, up to 10% or 1 s
	// early, so the refusal beats the client's own deadline). Default 60 s, as on Service Bus.
	AcceptNextSessionTimeout time.Duration
	// MaxSessionsPerConnection bounds the sessions of one connection. The server announces
	// channel-max MaxSessionsPerConnection-1 (or less, if the client asks for less); a begin on a
	// higher channel closes the connection with amqp:connection:framing-error, as the spec
	// requires. Default 1024.
	MaxSessionsPerConnection int
	// MaxLinksPerConnection bounds the links of one connection across its sessions; each session
	// announces handle-max MaxLinksPerConnection-1 (or less). An attach beyond it ends its session
	// with amqp:resource-limit-exceeded; an attach on a handle above handle-max closes the
	// connection with amqp:connection:framing-error. Default 1024.
	MaxLinksPerConnection int
	// MaxPendingBytes bounds the bytes one connection holds in unfinished incoming deliveries
	// (a message whose transfers have not all arrived) plus $cbs and $management responses
	// waiting for credit on their reply link. A transfer beyond it detaches its link with
	// amqp:resource-limit-exceeded; a $cbs or $management request that arrives while the
	// connection is at the limit is rejected with that condition before it runs (a request that
	// ran is always answered, so one response may pass the limit). Default 16 MiB, and never
	// less than twice MaxMessageSize.
	MaxPendingBytes int64
	// DataDir, when set, makes the emulator durable: every acknowledged send, settlement,
	// schedule, deferral, dead-lettering and session state is written to a write-ahead log in
	// this directory (created with mode 0700) before the client gets its acknowledgement, and
	// is restored at the next start (docs/servicebus-durability.md). Entities still come from
	// ConfigPath at each start. Default "": memory only.
	DataDir string
	// CompactGrowth is how many bytes the write-ahead log may grow by before it is compacted
	// while the emulator runs (once it is also more than twice its size after the last
	// compaction). Default 64 MiB.
	CompactGrowth int64
	// HotBytes bounds, with DataDir, the stored messages' bytes (body and properties, in their
	// stored form) kept in memory: past it, the bytes of the oldest messages of each queue,
	// subscription and dead-letter queue whose log record is on disk are dropped from memory
	// and read back from the log when they are needed (delivery, peek, forwarding,
	// dead-lettering, compaction), so a backlog larger than memory works; each message keeps
	// its 144-byte record in memory. It is checked ten times a second, so a burst of sends may
	// pass it for that long. Default (0) 256 MiB; -1 keeps every message in memory; other
	// negative values are refused. Without DataDir every message is in memory.
	HotBytes int64
	// Clock is the entity time of the broker: enqueue, lock and expiry timestamps, lock expiry,
	// time to live, scheduled enqueue, session lock expiry and duplicate-detection windows. Default
	// nil: the real clock. A *clock.Fake lets a test move entity time with Advance (see package
	// sbtest). The AMQP layer (IdleTimeout, TokenTimeout, AcceptNextSessionTimeout), CBS token
	// expiry and the SDK's own timeouts always run on real time.
	Clock clock.Clock
	// Logger receives connection and entity lines at debug level and failures at warn level.
	// Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.AMQPAddr == "" {
		c.AMQPAddr = DefaultAMQPAddr
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if len(c.Policies) == 0 {
		c.Policies = auth.DefaultPolicies()
	}
	if c.TokenTimeout <= 0 {
		c.TokenTimeout = DefaultTokenTimeout
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.MaxFrameSize < 512 {
		c.MaxFrameSize = 512
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.MaxSessionsPerConnection <= 0 || c.MaxSessionsPerConnection > 1<<16 {
		c.MaxSessionsPerConnection = DefaultMaxSessionsPerConnection
	}
	if c.MaxLinksPerConnection <= 0 {
		c.MaxLinksPerConnection = DefaultMaxLinksPerConnection
	}
	if c.MaxPendingBytes <= 0 {
		c.MaxPendingBytes = DefaultMaxPendingBytes
	}
	c.MaxPendingBytes = max(c.MaxPendingBytes, 2*int64(c.MaxMessageSize))
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.AcceptNextSessionTimeout <= 0 {
		c.AcceptNextSessionTimeout = DefaultAcceptNextSessionTimeout
	}
	if c.CompactGrowth <= 0 {
		c.CompactGrowth = DefaultCompactGrowth
	}
	if c.HotBytes == 0 {
		c.HotBytes = DefaultHotBytes
	}
	c.Clock = clock.Or(c.Clock)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// SharedAccessPolicy is a shared access authorization rule: a key name, its keys and the claims it
// grants, on the namespace or on one entity.
type SharedAccessPolicy = auth.Policy

// Right is a set of Service Bus claims (Listen, Send, Manage).
type Right = auth.Right

// The claims of a SharedAccessPolicy.
const (
	Listen = auth.Listen
	Send   = auth.Send
	Manage = auth.Manage
)

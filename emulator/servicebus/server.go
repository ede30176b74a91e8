// Package servicebus is an Azure Service Bus emulator: an AMQP 1.0 server speaking the Service
// Bus dialect (CBS, $management, Service Bus annotations) on top of the in-memory broker, so the
// unmodified azservicebus SDK works against it with an emulator connection string.
//
// Embed it with Start, which binds at once and returns; tests use AMQPAddr "127.0.0.1:0":
//
//	srv, err := servicebus.Start(ctx, servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"})
//	defer srv.Stop(context.Background())
//	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
//
// Layers follow the spec: conn.go (connection, SASL in sasl.go), session.go, link.go, with the
// Service Bus nodes in cbs.go and management.go and the message mapping in message.go. The HTTP
// port serves GET /health (health.go) and the ATOM administration API (admin*.go).
//
// Session receivers (an attach with a com.microsoft:session-filter) and the session $management
// operations are in session_receiver.go and management_session.go, rule management in
// management_rules.go. Authorization (auth.go, internal/auth) is Service Bus's: SASL is required,
// and links and $management operations need a CBS token for their entity with the right claim
// unless Config.AllowAnonymous is set.
//
// Besides plain AMQP it serves AMQP over TLS (Config.AMQPSAddr) and AMQP over WebSockets on an
// HTTPS listener (Config.HTTPSAddr, websocket.go), with a certificate the user provides or one
// generated for localhost (tls.go), so the SDKs connect as to Service Bus; all transports end in
// the same connection code.
package servicebus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/auth"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/wal"
)

// QueueConfig describes a queue; zero fields take the Service Bus defaults (see each field).
type QueueConfig = broker.QueueConfig

// TopicConfig describes a topic.
type TopicConfig = broker.TopicConfig

// SubscriptionConfig describes a subscription with its rules (none means the match-all $Default rule).
type SubscriptionConfig = broker.SubscriptionConfig

// Rule is a named subscription filter.
type Rule = broker.Rule

// CorrelationFilter matches system and application properties by equality.
type CorrelationFilter = broker.CorrelationFilter

// Server is a running emulator.
type Server struct {
	cfg    Config
	log    *slog.Logger
	broker *broker.Broker
	// wal is the write-ahead log with DataDir (nil: memory only); see durable.go.
	wal *wal.Log
	// compactGrowth is Config.CompactGrowth; tests lower it while running.
	compactGrowth atomic.Int64
	// compactions counts the compactions made while running.
	compactions atomic.Int64
	// authz verifies tokens for $cbs, SASL PLAIN and the HTTP API (see Authorize).
	authz  *auth.Authorizer
	ln     net.Listener
	httpLn net.Listener
	http   *http.Server
	// TLS listeners (tls.go, websocket.go), nil when off.
	tls     *tlsCert
	amqpsLn net.Listener
	httpsLn net.Listener
	https   *http.Server

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// failed is set once the write-ahead log failed (failStop, durable.go).
	failed   atomic.Bool
	failOnce sync.Once

	mu       sync.Mutex
	conns    map[*conn]struct{}
	stopped  bool
	stopOnce sync.Once
}

// Start binds the AMQP and HTTP listeners, loads ConfigPath and returns at once; connections are
// served until Stop. ctx bounds only the start-up.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if cfg.HotBytes < -1 {
		return nil, fmt.Errorf("HotBytes %d: want -1 (every message in memory), 0 (default) or a positive budget: %w", cfg.HotBytes, ErrConfig)
	}
	authz, policies, err := newAuthorizer(cfg)
	if err != nil {
		return nil, err
	}
	cfg.Policies = policies
	s := &Server{cfg: cfg, log: cfg.Logger, conns: map[*conn]struct{}{}, authz: authz}
	jr := &journal{fail: s.failStop}
	bcfg := broker.Config{Logger: cfg.Logger, Clock: cfg.Clock}
	if cfg.DataDir != "" {
		bcfg.Journal = jr
	}
	s.broker = broker.New(bcfg)
	var rec *broker.Recovery
	if cfg.DataDir != "" {
		// From here until the log is open nothing is journaled: the entities of ConfigPath are
		// made at every start, and the start's snapshot records them with the rest.
		rec = s.broker.NewRecovery()
	}
	if cfg.ConfigPath != "" {
		if err := loadEntities(s.broker, cfg.ConfigPath); err != nil {
			s.broker.Stop()
			return nil, fmt.Errorf("loading %s: %w", cfg.ConfigPath, err)
		}
	}
	if cfg.DataDir != "" {
		wl, err := s.recover(cfg.DataDir, rec, jr)
		if err != nil {
			s.broker.Stop()
			return nil, err
		}
		jr.log.Store(wl)
		s.wal = wl
		// A recovered backlog past the budget goes cold before serving.
		if before, after := s.evict(); after < before {
			debug.FreeOSMemory()
		}
	}
	if err := ctx.Err(); err != nil {
		s.broker.Stop()
		if s.wal != nil {
			_ = s.wal.Close()
		}
		return nil, err
	}
	if err := s.listen(ctx); err != nil {
		s.closeListeners()
		s.broker.Stop()
		if s.wal != nil {
			_ = s.wal.Close()
		}
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Go(func() { s.acceptLoop(s.ln) })
	if s.amqpsLn != nil {
		s.wg.Go(func() { s.acceptLoop(s.amqpsLn) })
	}
	if s.wal != nil {
		s.compactGrowth.Store(cfg.CompactGrowth)
		s.wg.Go(s.compactLoop)
		if cfg.HotBytes > 0 {
			s.wg.Go(s.evictLoop)
		}
	}
	for srv, ln := range map[*http.Server]net.Listener{s.http: s.httpLn, s.https: s.httpsLn} {
		if srv == nil {
			continue
		}
		s.wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Warn("http server", "addr", ln.Addr().String(), "err", err)
			}
		})
	}
	s.log.Info("service bus emulator listening", "amqp", s.AMQPAddr(), "http", s.HTTPAddr(), "amqps", s.AMQPSAddr(), "https", s.HTTPSAddr())
	return s, nil
}

// listen binds every configured listener; the caller closes them on error.
func (s *Server) listen(ctx context.Context) error {
	cfg := s.cfg
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.AMQPAddr)
	if err != nil {
		return fmt.Errorf("listening for AMQP on %s: %w", cfg.AMQPAddr, err)
	}
	s.ln = ln
	if cfg.HTTPAddr != "-" {
		hl, err := lc.Listen(ctx, "tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("listening for HTTP on %s: %w", cfg.HTTPAddr, err)
		}
		s.httpLn = hl
		s.http = newHTTPServer(s.httpHandler())
	}
	if cfg.AMQPSAddr == "" && cfg.HTTPSAddr == "" {
		return nil
	}
	if s.tls, err = loadOrGenerateCert(cfg, time.Now()); err != nil {
		return err
	}
	if cfg.AMQPSAddr != "" {
		raw, err := lc.Listen(ctx, "tcp", cfg.AMQPSAddr)
		if err != nil {
			return fmt.Errorf("listening for AMQPS on %s: %w", cfg.AMQPSAddr, err)
		}
		// The handshake runs on the connection's first read, under its handshake deadline.
		s.amqpsLn = tls.NewListener(raw, s.tls.serverTLSConfig()) // no ALPN: AMQP clients offer none
	}
	if cfg.HTTPSAddr != "" {
		raw, err := lc.Listen(ctx, "tcp", cfg.HTTPSAddr)
		if err != nil {
			return fmt.Errorf("listening for HTTPS on %s: %w", cfg.HTTPSAddr, err)
		}
		// HTTP/1.1 only: a WebSocket upgrade over HTTP/2 needs extended CONNECT, which the SDKs do not use.
		s.httpsLn = tls.NewListener(raw, s.tls.serverTLSConfig("http/1.1"))
		s.https = newHTTPServer(s.httpsHandler())
		s.https.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	return nil
}

// newHTTPServer bounds the time and header bytes a client may take (a hijacked WebSocket
// connection leaves these deadlines behind and is bounded by the AMQP idle timeout).
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// closeListeners closes whatever listen bound.
func (s *Server) closeListeners() {
	for _, ln := range []net.Listener{s.ln, s.httpLn, s.amqpsLn, s.httpsLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

func (s *Server) acceptLoop(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || s.failed.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.log.Warn("accept", "addr", ln.Addr().String(), "err", err)
			return
		}
		if !s.track(1) {
			_ = nc.Close()
			return
		}
		go s.serveConn(nc)
	}
}

// track adds n to the goroutines Stop waits for, unless the server is stopping.
func (s *Server) track(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.wg.Add(n)
	return true
}

// serveConn serves one AMQP connection (TCP, TLS or WebSocket) until it ends; the caller has
// tracked it.
func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	c := newConn(s, nc)
	s.mu.Lock()
	if s.stopped || s.failed.Load() {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.serve()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Stop closes the listeners and every connection (with close amqp:connection:forced) and stops
// the broker. It waits for connection goroutines until ctx ends. Safe to call more than once and
// on a nil server.
func (s *Server) Stop(ctx context.Context) error {
	if s == nil {
		return nil
	}
	var err error
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopped = true
		conns := make([]*conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		s.cancel()
		// The HTTP servers first: they close their own listeners and then Serve returns ErrServerClosed.
		for _, h := range []*http.Server{s.http, s.https} {
			if h != nil {
				_ = h.Close()
			}
		}
		s.closeListeners()
		for _, c := range conns {
			c.shutdown(&connError{Condition: CondConnectionForced, Description: "the emulator is shutting down"})
		}
		s.broker.Stop()
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = fmt.Errorf("stopping service bus emulator: %w", ctx.Err())
		}
		if s.wal != nil {
			err = errors.Join(err, s.wal.Close())
		}
	})
	return err
}

// AMQPAddr is the bound AMQP address (host:port).
func (s *Server) AMQPAddr() string { return s.ln.Addr().String() }

// AMQPSAddr is the bound AMQPS (AMQP over TLS) address, or "" when it is off.
func (s *Server) AMQPSAddr() string {
	if s.amqpsLn == nil {
		return ""
	}
	return s.amqpsLn.Addr().String()
}

// HTTPSAddr is the bound HTTPS address (AMQP over WebSockets and the HTTP API), or "" when it is off.
func (s *Server) HTTPSAddr() string {
	if s.httpsLn == nil {
		return ""
	}
	return s.httpsLn.Addr().String()
}

// HTTPAddr is the bound HTTP address, or "" when HTTP is disabled.
func (s *Server) HTTPAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// ConnectionString is an emulator connection string for the bound AMQP port with the
// RootManageSharedAccessKey policy (or, without it, the namespace policy with the most claims).
func (s *Server) ConnectionString() string {
	name, key := s.firstKey()
	return fmt.Sprintf("Endpoint=sb://%s;SharedAccessKeyName=%s;SharedAccessKey=%s;UseDevelopmentEmulator=true;",
		s.AMQPAddr(), name, key)
}

// firstKey is RootManageSharedAccessKey when configured, else the first namespace-level policy
// with the most claims.
func (s *Server) firstKey() (string, string) {
	var best *SharedAccessPolicy
	for i := range s.cfg.Policies {
		p := &s.cfg.Policies[i]
		if p.Entity != "" {
			continue
		}
		if p.Name == DefaultKeyName {
			return p.Name, p.PrimaryKey
		}
		if best == nil || p.Rights > best.Rights {
			best = p
		}
	}
	if best == nil {
		best = &s.cfg.Policies[0]
	}
	return best.Name, best.PrimaryKey
}

// ConnectionCount is the number of open AMQP connections.
func (s *Server) ConnectionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// CreateQueue adds a queue at run time (e.g. a unique queue per test).
func (s *Server) CreateQueue(cfg QueueConfig) error {
	if err := s.broker.CreateQueue(cfg); err != nil {
		return fmt.Errorf("creating queue %q: %w", cfg.Name, err)
	}
	return nil
}

// CreateTopic adds a topic at run time.
func (s *Server) CreateTopic(cfg TopicConfig) error {
	if err := s.broker.CreateTopic(cfg); err != nil {
		return fmt.Errorf("creating topic %q: %w", cfg.Name, err)
	}
	return nil
}

// CreateSubscription adds a subscription to an existing topic at run time.
func (s *Server) CreateSubscription(topic string, cfg SubscriptionConfig) error {
	if err := s.broker.CreateSubscription(topic, cfg); err != nil {
		return fmt.Errorf("creating subscription %q of %q: %w", cfg.Name, topic, err)
	}
	return nil
}

// DeleteEntity removes a queue, topic or subscription ("topic/Subscriptions/sub").
func (s *Server) DeleteEntity(path string) error {
	if err := s.broker.Delete(path); err != nil {
		return fmt.Errorf("deleting %q: %w", path, err)
	}
	return nil
}

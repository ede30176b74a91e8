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
package servicebus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	conns    map[*conn]struct{}
	stopped  bool
	stopOnce sync.Once
}

// Start binds the AMQP and HTTP listeners, loads ConfigPath and returns at once; connections are
// served until Stop. ctx bounds only the start-up.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	authz, policies, err := newAuthorizer(cfg)
	if err != nil {
		return nil, err
	}
	cfg.Policies = policies
	s := &Server{cfg: cfg, log: cfg.Logger, conns: map[*conn]struct{}{}, authz: authz}
	jr := &journal{}
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
		wl, err := s.recover(cfg.DataDir, rec)
		if err != nil {
			s.broker.Stop()
			return nil, err
		}
		jr.log, s.wal = wl, wl
	}
	if err := ctx.Err(); err != nil {
		s.broker.Stop()
		if s.wal != nil {
			_ = s.wal.Close()
		}
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.AMQPAddr)
	if err != nil {
		s.broker.Stop()
		if s.wal != nil {
			_ = s.wal.Close()
		}
		return nil, fmt.Errorf("listening for AMQP on %s: %w", cfg.AMQPAddr, err)
	}
	s.ln = ln
	stopLog := func() {
		if s.wal != nil {
			_ = s.wal.Close()
		}
	}
	if cfg.HTTPAddr != "-" {
		hl, err := lc.Listen(ctx, "tcp", cfg.HTTPAddr)
		if err != nil {
			_ = ln.Close()
			s.broker.Stop()
			stopLog()
			return nil, fmt.Errorf("listening for HTTP on %s: %w", cfg.HTTPAddr, err)
		}
		s.httpLn = hl
		s.http = &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
		s.wg.Go(func() {
			if err := s.http.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Warn("http server", "err", err)
			}
		})
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Go(s.acceptLoop)
	if s.wal != nil {
		s.compactGrowth.Store(cfg.CompactGrowth)
		s.wg.Go(s.compactLoop)
	}
	s.log.Info("service bus emulator listening", "amqp", s.AMQPAddr(), "http", s.HTTPAddr())
	return s, nil
}

func (s *Server) acceptLoop() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.log.Warn("accept", "err", err)
			return
		}
		c := newConn(s, nc)
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		})
	}
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
		_ = s.ln.Close()
		if s.http != nil {
			_ = s.http.Close()
		}
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

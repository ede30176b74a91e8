// Package sbtest makes a Service Bus emulator a one-liner in Go tests, as httptest.NewServer does
// for HTTP:
//
//	func TestOrders(t *testing.T) {
//		clk := clock.NewFake(time.Now())
//		srv := sbtest.New(t, sbtest.WithClock(clk),
//			sbtest.Queue(servicebus.QueueConfig{Name: "orders", LockDuration: 30 * time.Second}),
//			sbtest.Topic(servicebus.TopicConfig{Name: "events"}, servicebus.SubscriptionConfig{Name: "audit"}))
//		client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
//		...
//		clk.Advance(30 * time.Second) // the lock lapses now; the message is redelivered
//	}
//
// New starts the emulator on 127.0.0.1:0 with HTTP disabled, creates the entities and registers a
// t.Cleanup that stops it and waits for its goroutines, so goleak finds none left. Authorization
// is Service Bus's, as in the standalone emulator: the connection string carries the root key, so
// the SDK puts a CBS token on each connection.
//
// With WithClock(clock.NewFake(...)) entity time (lock expiry, time to live, scheduled enqueue,
// session lock expiry, duplicate-detection windows) moves only when the test calls Advance, which
// also fires what fell due before returning. Connection-level timeouts and the SDK's own
// deadlines stay on real time; see package clock.
package sbtest

import (
	"context"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/emulator/servicebus/clock"
)

// StopTimeout bounds the start-up, and how long the cleanup waits for the emulator's connections
// to end.
const StopTimeout = 5 * time.Second

// Option configures New.
type Option func(*options)

type options struct {
	cfg   servicebus.Config
	setup []func(*servicebus.Server) error
}

// WithConfig starts the emulator with cfg (policies, AllowAnonymous, limits, a Logger...). Its
// AMQPAddr defaults to "127.0.0.1:0" and its HTTPAddr to "-" (disabled); any other address
// should also use port 0. A nil cfg.Clock keeps the clock of an earlier WithClock.
func WithConfig(cfg servicebus.Config) Option {
	return func(o *options) {
		if cfg.Clock == nil {
			cfg.Clock = o.cfg.Clock
		}
		o.cfg = cfg
	}
}

// WithClock sets the broker's clock; pass a *clock.Fake to advance entity time by hand.
func WithClock(c clock.Clock) Option {
	return func(o *options) { o.cfg.Clock = c }
}

// Queue creates a queue at start.
func Queue(cfg servicebus.QueueConfig) Option {
	return func(o *options) {
		o.setup = append(o.setup, func(s *servicebus.Server) error { return s.CreateQueue(cfg) })
	}
}

// Topic creates a topic with the given subscriptions (each with its rules and settings) at start.
func Topic(cfg servicebus.TopicConfig, subs ...servicebus.SubscriptionConfig) Option {
	return func(o *options) {
		o.setup = append(o.setup, func(s *servicebus.Server) error {
			if err := s.CreateTopic(cfg); err != nil {
				return err
			}
			for _, sub := range subs {
				if err := s.CreateSubscription(cfg.Name, sub); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// New starts an emulator for the test, creates the entities of the options in order and returns
// the running server: ConnectionString for the SDK, CreateQueue and friends for entities made
// later. The emulator is stopped when the test and its subtests end. Any failure to start fails
// the test at once.
func New(t testing.TB, opts ...Option) *servicebus.Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.cfg.AMQPAddr == "" {
		o.cfg.AMQPAddr = "127.0.0.1:0"
	}
	if o.cfg.HTTPAddr == "" {
		o.cfg.HTTPAddr = "-"
	}
	ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
	defer cancel()
	srv, err := servicebus.Start(ctx, o.cfg)
	if err != nil {
		t.Fatalf("sbtest: starting the emulator: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("sbtest: %v", err)
		}
	})
	for _, f := range o.setup {
		if err := f(srv); err != nil {
			t.Fatalf("sbtest: %v", err)
		}
	}
	return srv
}

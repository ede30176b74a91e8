package lambdahost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Host runs the functions of a Config.
type Host struct {
	cfg   Config
	funcs map[string]*function
	tel   *hostTelemetry

	stopping chan struct{}
	wg       sync.WaitGroup
	outMu    sync.Mutex

	mu        sync.Mutex
	started   bool
	stopped   bool
	front     *http.Server
	ln        net.Listener
	runCtx    context.Context // ends when the host stops
	cancel    context.CancelFunc
	startedAt time.Time
}

// New checks cfg; it starts nothing.
func New(cfg Config) (*Host, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, funcs: map[string]*function{}, stopping: make(chan struct{}), tel: newHostTelemetry(cfg.Telemetry)}
	vhost := vhostOf(cfg.RabbitMQURL)
	for _, f := range cfg.Functions {
		fn := &function{h: h, cfg: f, next: make(chan *invocation),
			arn: fmt.Sprintf("arn:aws:lambda:%s:000000000000:function:%s", cfg.Region, f.Name)}
		// The status names a function's trigger after its SAM event
		// source; a queue mapping's connection is the one to watch.
		for _, s := range cfg.Schedules {
			if s.Function == f.Name {
				fn.trigger = "Schedule"
			}
		}
		for _, r := range cfg.Routes {
			if r.Function == f.Name {
				fn.trigger = "HttpApi"
			}
		}
		for _, q := range cfg.Queues {
			if q.Function == f.Name {
				fn.trigger = "MQ"
				fn.pollers = append(fn.pollers, newPoller(h, q, vhost))
			}
		}
		if fn.trigger == "" {
			fn.trigger = "Invoke"
		}
		h.funcs[f.Name] = fn
	}
	return h, nil
}

// Start starts every function's runtime processes, the HTTP front, the
// queue pollers and the schedules. It returns once the HTTP port listens;
// the runtimes initialise in the background (a first invocation waits for
// one).
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started {
		return errors.New("lambdahost: already started")
	}
	h.started = true
	ln, err := net.Listen("tcp", h.cfg.Addr)
	if err != nil {
		return fmt.Errorf("lambdahost: listening on %s: %w", h.cfg.Addr, err)
	}
	h.ln = ln
	h.runCtx, h.cancel = context.WithCancel(context.WithoutCancel(ctx))
	h.startedAt = time.Now()
	for _, f := range h.cfg.Functions {
		fn := h.funcs[f.Name]
		for i := range f.Concurrency {
			e, err := newEnvironment(fn, i)
			if err != nil {
				_ = h.stopLocked(context.Background())
				return err
			}
			fn.envs = append(fn.envs, e)
			h.wg.Add(1)
			go e.run()
		}
	}
	// Every read is bounded (a slow client cannot hold a connection);
	// there is no WriteTimeout, as a function may answer after minutes.
	h.front = &http.Server{Handler: h.httpHandler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	h.wg.Go(func() { _ = h.front.Serve(ln) })
	for _, f := range h.cfg.Functions {
		h.startSources(h.funcs[f.Name])
	}
	return nil
}

// URL is the HTTP front's base URL, once started.
func (h *Host) URL() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ln == nil {
		return ""
	}
	return "http://" + h.ln.Addr().String()
}

// Routes lists the configured routes.
func (h *Host) Routes() []Route { return append([]Route(nil), h.cfg.Routes...) }

// Invoke runs function synchronously with payload, as the Lambda Invoke API
// does (RequestResponse), and returns the function's response payload. A
// function error is a *FunctionError; a stopped function's is a
// *ThrottledError.
func (h *Host) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	fn, ok := h.funcs[function]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownFunction, function)
	}
	if fn.stopped.Load() {
		h.tel.throttled(ctx, function)
		return nil, &ThrottledError{Function: function}
	}
	return fn.invoke(ctx, payload)
}

// Stop stops the pollers, schedules and HTTP front, then kills the
// runtime processes. It is idempotent; ctx bounds the graceful part.
func (h *Host) Stop(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stopLocked(ctx)
}

func (h *Host) stopLocked(ctx context.Context) error {
	if h.stopped {
		return nil
	}
	h.stopped = true
	if h.cancel != nil {
		h.cancel()
	}
	var err error
	if h.front != nil {
		err = h.front.Shutdown(ctx)
		if err != nil {
			_ = h.front.Close()
		}
	} else if h.ln != nil {
		_ = h.ln.Close()
	}
	close(h.stopping)
	for _, fn := range h.funcs {
		for _, e := range fn.envs {
			e.kill(false)
			_ = e.srv.Close()
		}
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		<-done // the processes were killed; only bounded waits remain
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

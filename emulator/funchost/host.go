package funchost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Host runs a custom-handler function app the way `func start` does.
type Host struct {
	cfg   Config
	app   *App
	log   *slog.Logger
	sup   *supervisor
	disp  *dispatcher
	front *front
	tel   *hostTelemetry
	ctl   *control

	triggers map[string]Trigger // by function name, enabled and loaded only

	mu       sync.Mutex
	listener net.Listener
	server   *http.Server
	serveErr chan error
	started  bool
	stopOnce sync.Once
	stopErr  error
}

// describer is implemented by triggers that print a func-start line.
type describer interface{ describe(baseURL string) string }

// New loads the app folder and prepares the triggers. Functions that cannot
// load (bad route, bad schedule, unknown trigger type, unresolved setting)
// are logged and skipped, as the real host does; the app itself must be
// valid (host.json with a customHandler).
func New(cfg Config) (*Host, error) {
	cfg = cfg.withDefaults()
	app, err := LoadApp(cfg.AppDir, cfg.Settings)
	if err != nil {
		return nil, fmt.Errorf("loading function app %s: %w", cfg.AppDir, err)
	}
	h := &Host{cfg: cfg, app: app, log: cfg.Logger, triggers: map[string]Trigger{}}
	h.front = &front{host: h, log: cfg.Logger}
	h.sup = newSupervisor(app, cfg)
	h.disp = newDispatcher(app, h.sup, cfg.Logger)
	h.tel = newHostTelemetry(cfg.Telemetry)
	h.ctl = newControl()
	h.disp.tel, h.sup.tel, h.disp.ctl, h.sup.ctl = h.tel, h.tel, h.ctl, h.ctl
	h.disp.client.Transport = h.tel.transport(h.disp.client.Transport)
	for _, w := range app.warnings {
		h.log.Warn(w)
	}
	for _, fn := range app.Functions {
		switch {
		case fn.LoadError != nil:
			h.log.Error("function not loaded", "function", fn.Name, "err", fn.LoadError)
			continue
		case fn.Disabled:
			h.log.Info("function is disabled", "function", fn.Name)
			continue
		}
		if err := checkOutputs(fn); err != nil {
			h.log.Warn("function not loaded", "function", fn.Name, "err", err)
			continue
		}
		b := fn.Trigger()
		factory, ok := lookupTrigger(b.Type)
		if !ok {
			h.log.Warn("no extension handles this trigger type; function not loaded", "function", fn.Name, "type", b.Type)
			continue
		}
		t, err := factory(h, fn, b)
		if err != nil {
			h.log.Error("function not loaded", "function", fn.Name, "err", err)
			continue
		}
		h.triggers[fn.Name] = t
	}
	if cfg.EnforceAuth {
		if v, _ := app.settings.get(MasterKeySetting); v == "" {
			h.log.Warn("auth is enforced but no master key is set; admin calls will be refused", "setting", MasterKeySetting)
		}
	}
	return h, nil
}

// App returns the loaded app.
func (h *Host) App() *App { return h.app }

// function finds an enabled, loaded function by name (case-insensitive).
func (h *Host) function(name string) (*Function, Trigger) {
	for _, fn := range h.app.Functions {
		if strings.EqualFold(fn.Name, name) {
			if t, ok := h.triggers[fn.Name]; ok {
				return fn, t
			}
		}
	}
	return nil, nil
}

// Start listens on Config.Addr, starts the handler instances and waits for
// them to be ready, starts the triggers, then prints the function list.
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started {
		return errors.New("host already started")
	}
	h.started = true
	l, err := net.Listen("tcp", h.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", h.cfg.Addr, err)
	}
	h.listener = l
	if err := h.sup.start(ctx); err != nil {
		_ = l.Close()
		h.sup.stop(ctx)
		return fmt.Errorf("starting handler: %w", err)
	}
	for _, fn := range h.app.Functions {
		t, ok := h.triggers[fn.Name]
		if !ok {
			continue
		}
		if err := t.Start(ctx, h.disp); err != nil {
			h.log.Error("trigger did not start; function not running", "function", fn.Name, "err", err)
			delete(h.triggers, fn.Name)
		}
	}
	h.server = &http.Server{Handler: h.tel.wrapFront(h.front), ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(h.log.Handler(), slog.LevelWarn)}
	h.serveErr = make(chan error, 1)
	go func() { h.serveErr <- h.server.Serve(l) }()
	h.printFunctions(h.cfg.Stdout)
	return nil
}

func (h *Host) printFunctions(w io.Writer) {
	var b strings.Builder
	b.WriteString("\nFunctions:\n\n")
	base := h.urlLocked()
	for _, fn := range h.app.Functions {
		t, ok := h.triggers[fn.Name]
		if !ok {
			continue
		}
		desc := fn.Trigger().Type
		if d, ok := t.(describer); ok {
			desc = d.describe(base)
		}
		fmt.Fprintf(&b, "\t%s: %s\n\n", fn.Name, desc)
	}
	h.sup.outMu.Lock()
	defer h.sup.outMu.Unlock()
	_, _ = io.WriteString(w, b.String())
}

// URL is the base URL of the HTTP front, e.g. "http://127.0.0.1:7071"; empty
// before Start.
func (h *Host) URL() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.urlLocked()
}

func (h *Host) urlLocked() string {
	if h.listener == nil {
		return ""
	}
	return "http://" + h.listener.Addr().String()
}

// Done is closed when the host gave up on the handler after repeated
// failures (the real host stops then); Err says why.
func (h *Host) Done() <-chan struct{} { return h.sup.done }

// Err returns why the host gave up, nil while it runs.
func (h *Host) Err() error {
	h.sup.mu.Lock()
	defer h.sup.mu.Unlock()
	return h.sup.err
}

// Stop shuts down gracefully: no new requests, triggers stopped, in-flight
// invocations drained until ctx ends (Config.DrainTimeout when ctx has no
// deadline), then the handler gets SIGTERM and, after KillTimeout, SIGKILL.
// Idempotent and safe before Start.
func (h *Host) Stop(ctx context.Context) error {
	h.stopOnce.Do(func() { h.stopErr = h.stop(ctx) })
	return h.stopErr
}

func (h *Host) stop(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.cfg.DrainTimeout)
		defer cancel()
	}
	h.mu.Lock()
	server, started := h.server, h.started
	h.mu.Unlock()
	var errs []error
	if server != nil {
		if err := server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("draining HTTP requests: %w", err))
			_ = server.Close()
		}
	}
	for name, t := range h.triggers {
		if err := t.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping trigger of %s: %w", name, err))
		}
	}
	if err := h.ctl.stopReplaced(ctx); err != nil {
		errs = append(errs, err)
	}
	if n := h.disp.close(ctx); n > 0 {
		h.log.Warn("drain timeout: abandoning in-flight invocations", "count", n)
		errs = append(errs, fmt.Errorf("%d invocations still running at the drain deadline", n))
	}
	h.disp.out.close(ctx)
	if started {
		killCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.KillTimeout)
		defer cancel()
		h.sup.stop(killCtx)
	}
	return errors.Join(errs...)
}

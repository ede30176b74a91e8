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

	"golang.org/x/sync/semaphore"
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

// New loads the app folder and prepares the triggers. A broken host.json
// or function.json of an enabled function (unknown binding type, missing
// connection setting, invalid schedule or route, two functions on one
// route, ...) stops start-up with a *ConfigError naming the file and the
// field, as the real host's start-up checks do. Disabled functions are not
// checked.
func New(cfg Config) (*Host, error) {
	cfg = cfg.withDefaults()
	app, err := LoadApp(cfg.AppDir, cfg.Settings)
	if err != nil {
		return nil, fmt.Errorf("loading function app %s: %w", cfg.AppDir, err)
	}
	h := &Host{cfg: cfg, app: app, log: cfg.Logger, triggers: map[string]Trigger{}}
	h.front = &front{host: h, log: cfg.Logger, bodies: semaphore.NewWeighted(cfg.MaxBufferedBodyBytes)}
	h.sup = newSupervisor(app, cfg)
	h.disp = newDispatcher(app, h.sup, cfg.Logger)
	if err := h.checkHost(); err != nil {
		return nil, err
	}
	h.tel = newHostTelemetry(cfg.Telemetry)
	h.ctl = newControl()
	h.disp.tel, h.sup.tel, h.disp.ctl, h.sup.ctl = h.tel, h.tel, h.ctl, h.ctl
	h.disp.client.Transport = h.tel.transport(h.disp.client.Transport)
	for _, w := range app.warnings {
		h.log.Warn(w)
	}
	var routes []*httpTrigger
	for _, fn := range app.Functions {
		if fn.Disabled {
			h.log.Info("function is disabled", "function", fn.Name)
			continue
		}
		if fn.LoadError != nil {
			return nil, fn.LoadError
		}
		t, err := h.newTrigger(fn)
		if err != nil {
			return nil, err
		}
		if ht, ok := t.(*httpTrigger); ok {
			if err := routeConflict(routes, ht); err != nil {
				return nil, err
			}
			routes = append(routes, ht)
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

// checkHost checks what host.json asks against the Config.
func (h *Host) checkHost() error {
	if h.app.Handler.Port != 0 && h.cfg.Instances > 1 {
		return hostError("customHandler.port", "a fixed port (%d) allows one handler instance, %d were asked for", h.app.Handler.Port, h.cfg.Instances)
	}
	return nil
}

// newTrigger checks fn's bindings and builds its trigger; errors name
// fn's function.json and the field.
func (h *Host) newTrigger(fn *Function) (Trigger, error) {
	file := fn.Name + "/function.json"
	for i, b := range fn.Bindings {
		if strings.EqualFold(b.Direction, "out") && !outputTypes[strings.ToLower(b.Type)] {
			return nil, &ConfigError{File: file, Field: fmt.Sprintf("bindings[%d].type", i), Msg: fmt.Sprintf("no extension for output binding type %q", b.Type)}
		}
	}
	i := fn.triggerIndex()
	b := &fn.Bindings[i]
	factory, ok := lookupTrigger(b.Type)
	if !ok {
		return nil, &ConfigError{File: file, Field: fmt.Sprintf("bindings[%d].type", i), Msg: fmt.Sprintf("no extension for trigger type %q", b.Type)}
	}
	t, err := factory(h, fn, b)
	var ce *ConfigError
	switch {
	case err == nil:
		return t, nil
	case errors.As(err, &ce) && ce.File == "":
		return nil, &ConfigError{File: file, Field: fmt.Sprintf("bindings[%d].%s", i, ce.Field), Msg: ce.Msg}
	case errors.As(err, &ce):
		return nil, ce
	}
	return nil, &ConfigError{File: file, Field: fmt.Sprintf("bindings[%d]", i), Msg: err.Error()}
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
	h.server = newServer(h.tel.wrapFront(h.front), h.cfg, slog.NewLogLogger(h.log.Handler(), slog.LevelWarn))
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

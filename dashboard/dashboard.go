// Package dashboard is the local dashboard of the order system: an OTLP/HTTP
// receiver (the handler, the host and the emulator export to it with the
// standard exporter), optionally an OTLP/gRPC one, and server-rendered
// pages: Resources (host, handler instances, functions with stop/start,
// dependency checks), Logs (live), Traces (list and waterfall), Metrics
// (charts over time) and Queues (depths, dead letters, replay, purge through
// shared/deadletter).
//
// Everything it serves is embedded; telemetry is kept in bounded ring
// buffers; it listens on loopback and refuses cross-site form posts.
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/orderflow/orderflow/internal/loopback"
	"github.com/orderflow/orderflow/shared/deadletter"
)

//go:embed assets
var assets embed.FS

// Queues is what the Queues page needs of a broker: the dead-letter
// operations and queue depths of shared/deadletter.
type Queues = deadletter.Inspector

// Check is one dependency shown on the Resources page.
type Check struct {
	// Name and Kind label the resource ("PostgreSQL", "database").
	Name, Kind string
	// Detail is shown beside it (an address, never a secret).
	Detail string
	// Probe reports its health; nil error means healthy.
	Probe func(ctx context.Context) error
}

// Config configures a Dashboard. The zero value serves an empty dashboard
// on 127.0.0.1:18888.
type Config struct {
	// Addr is the listen address for the pages and the OTLP receiver.
	// Default "127.0.0.1:18888"; tests use "127.0.0.1:0".
	Addr string
	// Listener, when set, is used instead of listening on Addr (a test
	// that must know the URL before the dashboard's other parts exist).
	Listener net.Listener
	// GRPCAddr, when set, also serves OTLP/gRPC there (the collector's
	// Export services, as exporters send with
	// OTEL_EXPORTER_OTLP_PROTOCOL=grpc). Default: "" (off); the dashboard
	// command serves it on 127.0.0.1:18889.
	GRPCAddr string
	// GRPCListener, when set, is used instead of listening on GRPCAddr.
	GRPCListener net.Listener
	// HostURL is the local Functions host's or Lambda host's base URL (both
	// serve the control API of internal/hostapi), for the Resources page
	// and function stop/start. Default: "" (no host shown).
	HostURL string
	// HostKey is the host's master key when it enforces auth. Default: "".
	HostKey string
	// Broker names the broker on the Queues page. Default: "broker".
	Broker string
	// Queues serves the Queues page. Default: nil (page shows nothing).
	Queues Queues
	// Consumers are the consumer names Queues knows. Default: none.
	Consumers []string
	// Checks are the dependencies on the Resources page. Default: none.
	Checks []Check
	// MaxSpans, MaxLogs, MaxSeries and MaxPoints bound memory. Defaults:
	// 20000 spans, 10000 log records, 1000 series of 360 points each.
	MaxSpans, MaxLogs, MaxSeries, MaxPoints int
	// Logger receives the dashboard's own errors. Default: slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:18888"
	}
	if c.Broker == "" {
		c.Broker = "broker"
	}
	if c.MaxSpans <= 0 {
		c.MaxSpans = 20000
	}
	if c.MaxLogs <= 0 {
		c.MaxLogs = 10000
	}
	if c.MaxSeries <= 0 {
		c.MaxSeries = 1000
	}
	if c.MaxPoints <= 0 {
		c.MaxPoints = 360
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.HostURL = strings.TrimRight(c.HostURL, "/")
	return c
}

// Dashboard is a running dashboard.
type Dashboard struct {
	cfg    Config
	store  *store
	pages  *template.Template
	client *http.Client
	quit   chan struct{} // closed by Stop: live streams end

	mu       sync.Mutex
	ln       net.Listener
	srv      *http.Server
	done     chan struct{}
	grpcLn   net.Listener
	grpcSrv  *grpc.Server
	grpcDone chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// New prepares a dashboard; Start serves it.
func New(cfg Config) (*Dashboard, error) {
	cfg = cfg.withDefaults()
	pages, err := template.New("").Funcs(funcs).ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard templates: %w", err)
	}
	return &Dashboard{cfg: cfg, store: newStore(cfg), pages: pages, client: &http.Client{Timeout: 30 * time.Second},
		quit: make(chan struct{})}, nil
}

// Start listens and serves until Stop.
func (d *Dashboard) Start(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.srv != nil {
		return errors.New("dashboard already started")
	}
	ln := d.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", d.cfg.Addr); err != nil {
			return fmt.Errorf("dashboard listening on %s: %w", d.cfg.Addr, err)
		}
	}
	gln, err := listenGRPC(d.cfg)
	if err != nil {
		if d.cfg.Listener == nil {
			_ = ln.Close()
		}
		return fmt.Errorf("dashboard OTLP/gRPC listening on %s: %w", d.cfg.GRPCAddr, err)
	}
	if gln != nil {
		d.grpcLn, d.grpcSrv, d.grpcDone = gln, d.newGRPCServer(), make(chan struct{})
		go func() {
			defer close(d.grpcDone)
			if err := d.grpcSrv.Serve(gln); err != nil {
				d.cfg.Logger.Error("dashboard OTLP/gRPC receiver stopped", "err", err)
			}
		}()
	}
	d.ln = ln
	d.srv = &http.Server{Handler: d.routes(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(d.cfg.Logger.Handler(), slog.LevelWarn)}
	d.done = make(chan struct{})
	go func() {
		defer close(d.done)
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.cfg.Logger.Error("dashboard stopped", "err", err)
		}
	}()
	return nil
}

// URL is the dashboard's base URL, also its OTLP/HTTP endpoint.
func (d *Dashboard) URL() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ln == nil {
		return ""
	}
	return "http://" + d.ln.Addr().String()
}

// GRPCAddr is the OTLP/gRPC receiver's address (host:port), or "" when it
// is off.
func (d *Dashboard) GRPCAddr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.grpcLn == nil {
		return ""
	}
	return d.grpcLn.Addr().String()
}

// Stop shuts the server down, bounded by ctx; live log streams end. It is
// idempotent.
func (d *Dashboard) Stop(ctx context.Context) error {
	d.stopOnce.Do(func() {
		close(d.quit)
		d.mu.Lock()
		srv, done, gsrv, gdone := d.srv, d.done, d.grpcSrv, d.grpcDone
		d.mu.Unlock()
		if srv == nil {
			return
		}
		if gsrv != nil {
			stopped := make(chan struct{})
			go func() { gsrv.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-ctx.Done():
				gsrv.Stop()
				<-stopped
			}
			<-gdone
		}
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
			d.stopErr = fmt.Errorf("stopping dashboard: %w", err)
		}
		<-done
	})
	return d.stopErr
}

func (d *Dashboard) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", d.otlpHandler("traces"))
	mux.HandleFunc("POST /v1/metrics", d.otlpHandler("metrics"))
	mux.HandleFunc("POST /v1/logs", d.otlpHandler("logs"))
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/resources", http.StatusFound) })
	mux.HandleFunc("GET /resources", d.resources)
	mux.HandleFunc("GET /logs", d.logsPage)
	mux.HandleFunc("GET /logs/stream", d.logStream)
	mux.HandleFunc("GET /traces", d.tracesPage)
	mux.HandleFunc("GET /traces/{id}", d.tracePage)
	mux.HandleFunc("GET /metrics", d.metricsPage)
	mux.HandleFunc("GET /queues", d.queuesPage)
	mux.HandleFunc("GET /queues/{consumer}", d.deadLettersPage)
	mux.HandleFunc("POST /actions/functions/{name}/{action}", d.sameOrigin(d.functionAction))
	mux.HandleFunc("POST /actions/instances/{index}/restart", d.sameOrigin(d.instanceRestart))
	mux.HandleFunc("POST /actions/queues/{consumer}/{action}", d.sameOrigin(d.queueAction))
	return loopbackOnly(mux)
}

// loopbackOnly serves only loopback Host names. A page whose name was
// re-pointed at 127.0.0.1 (DNS rebinding) is same-origin with itself, so
// sameOrigin cannot tell it apart; and the dashboard holds the host's master
// key, so it must not become a way round the host's own Host check.
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopback.Allowed(r.Host, nil) {
			http.Error(w, "Host "+strconv.Quote(r.Host)+" is not served; only loopback names are", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin lets an action through only from the dashboard's own pages:
// its script sends X-Dashboard, which a cross-site form cannot set, and a
// browser's Origin, when sent, must be this host.
func (d *Dashboard) sameOrigin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Dashboard") != "1" {
			http.Error(w, "actions come from the dashboard's pages (X-Dashboard header missing)", http.StatusForbidden)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
			http.Error(w, "cross-origin action refused", http.StatusForbidden)
			return
		}
		next(w, r)
	}
}

// Package handler is the Azure Functions custom handler of the order flow:
// one HTTP server that serves every function of the app.
//
// HTTP functions are served by their public route (/api/orders, ...), which
// is how the host calls them with enableProxyingHttpRequest (host.json) and
// with the older enableForwardingHttpRequest. The same functions also accept
// the default payload mode (POST /<FunctionName> with {Data:{req}}), so the
// handler keeps working on hosts that do not know the proxying flag.
// Non-HTTP functions (OutboxRelay, the queue consumers) receive
// POST /<FunctionName> with the {Data, Metadata} invocation payload.
package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/orderflow/orderflow/shared/bus"
	"github.com/orderflow/orderflow/shared/email"
	"github.com/orderflow/orderflow/shared/store"
	"github.com/orderflow/orderflow/shared/topology"
	"github.com/orderflow/orderflow/telemetry"
)

// Config configures a Handler.
type Config struct {
	// Store is the PostgreSQL adapter (required).
	Store *store.Store
	// Publisher publishes events (required).
	Publisher bus.Publisher
	// Broker names the broker in health output. Default: "broker".
	Broker string
	// Topology gives the event routing key. Default: topology.Default().
	Topology *topology.Topology
	// RoutePrefix is host.json's extensions.http.routePrefix (see
	// RoutePrefixFromHostJSON). Default: "api". Use "/" for an empty prefix.
	RoutePrefix string
	// RequestTimeout bounds the database work of one request, so an outage
	// answers 503 quickly. Default: 5s.
	RequestTimeout time.Duration
	// PublishTimeout bounds the publish right after CreateOrder commits;
	// on timeout the outbox relay publishes later. OutboxRelay leaves an
	// event nobody tried to publish yet alone for twice this long, so it
	// does not race the request into a duplicate. Default: 3s.
	PublishTimeout time.Duration
	// RelayBatch is how many events one OutboxRelay run publishes at most.
	// Default: 500.
	RelayBatch int
	// MaxBodyBytes limits request bodies. Default: 64 KiB.
	MaxBodyBytes int64
	// Mailer sends confirmation emails. Default: email.NewLog(Logger),
	// which only logs them.
	Mailer email.Sender
	// EmailFrom is the sender address. Default: orders@orderflow.localhost.
	EmailFrom string
	// Logger receives request errors. Default: slog.Default().
	Logger *slog.Logger
	// Telemetry provides tracing and metrics. Default: telemetry.Disabled().
	Telemetry *telemetry.Telemetry
}

func (c Config) withDefaults() Config {
	if c.Broker == "" {
		c.Broker = "broker"
	}
	if c.Topology == nil {
		t := topology.Default()
		c.Topology = &t
	}
	switch c.RoutePrefix {
	case "":
		c.RoutePrefix = "/api"
	case "/":
		c.RoutePrefix = ""
	default:
		c.RoutePrefix = "/" + strings.Trim(c.RoutePrefix, "/")
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = 3 * time.Second
	}
	if c.RelayBatch == 0 {
		c.RelayBatch = 500
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Mailer == nil {
		c.Mailer = email.NewLog(c.Logger)
	}
	if c.EmailFrom == "" {
		c.EmailFrom = "orders@orderflow.localhost"
	}
	if c.Telemetry == nil {
		c.Telemetry = telemetry.Disabled()
	}
	return c
}

// Handler serves every function of the app.
type Handler struct {
	cfg  Config
	inst instruments
	// serve is mux with telemetry around it.
	serve http.Handler
	mux   *http.ServeMux
	// routes is the raw-HTTP router shared by proxying/forwarding and payload modes.
	routes *router
}

// methods maps HTTP methods to handlers for one route.
type methods map[string]http.HandlerFunc

// New builds a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Publisher == nil {
		return nil, errors.New("handler: Store and Publisher are required")
	}
	h := &Handler{cfg: cfg.withDefaults(), mux: http.NewServeMux(), routes: &router{}}
	h.inst = newInstruments(h.cfg.Telemetry, h.cfg.Store, h.cfg.Publisher)
	p := h.cfg.RoutePrefix
	h.route(p+"/orders", methods{http.MethodPost: h.createOrder})
	h.route(p+"/orders/{id}", methods{http.MethodGet: h.getOrder})
	h.route(p+"/products", methods{http.MethodGet: h.listProducts, http.MethodPost: h.createProduct})
	h.route(p+"/health", methods{http.MethodGet: h.health})

	// Readiness and the host's health pings: any answer will do.
	h.mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, "application/json", map[string]string{"status": "ready"})
	})
	for _, fn := range []string{"CreateOrder", "GetOrder", "ListProducts", "CreateProduct", "Health"} {
		h.mux.HandleFunc("/"+fn, h.httpPayload)
	}
	h.mux.HandleFunc("/OutboxRelay", h.invocation(h.outboxRelay))
	// One Go handler per consumer, shared by its Service Bus and RabbitMQ
	// function.json variants.
	h.mux.HandleFunc("/ProcessOrder", h.invocation(h.consumer("ProcessOrder", h.processOrder)))
	h.mux.HandleFunc("/ProcessOrderRabbitMQ", h.invocation(h.consumer("ProcessOrderRabbitMQ", h.processOrder)))
	h.mux.HandleFunc("/SendEmail", h.invocation(h.consumer("SendEmail", h.sendEmail)))
	h.mux.HandleFunc("/SendEmailRabbitMQ", h.invocation(h.consumer("SendEmailRabbitMQ", h.sendEmail)))
	h.mux.Handle("/", h.routes)
	h.serve = h.wrapHTTP(h.mux)
	return h, nil
}

// route registers pattern on the raw router; other methods get 405.
func (h *Handler) route(pattern string, m methods) {
	allowed := make([]string, 0, len(m))
	for k := range m {
		allowed = append(allowed, k)
	}
	slices.Sort(allowed)
	h.routes.handle(pattern, func(w http.ResponseWriter, r *http.Request) {
		fn, ok := m[r.Method]
		nameRoute(r, pattern)
		if !ok {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			status(w, r, http.StatusMethodNotAllowed, fmt.Sprintf("%s does not accept %s; use %s", r.URL.Path, r.Method, strings.Join(allowed, " or ")))
			return
		}
		fn(w, r)
	})
}

// ServeHTTP dispatches a request and turns a panic into a logged 500.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.cfg.Logger.Error("handler panic", "path", r.URL.Path, "panic", v, "invocationId", r.Header.Get("X-Azure-Functions-InvocationId"))
			status(w, r, http.StatusInternalServerError, "the server failed; the error was logged")
		}
	}()
	h.serve.ServeHTTP(w, r)
}

// serverError answers a failure that is not the client's: 503 when a
// dependency is unavailable (safe to retry), else 500. Both are logged.
func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	log := h.cfg.Logger.With("path", r.URL.Path, "method", r.Method, "invocationId", r.Header.Get("X-Azure-Functions-InvocationId"))
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		log.ErrorContext(r.Context(), what+": database unavailable", "err", err)
		w.Header().Set("Retry-After", "5")
		writeProblem(w, r, Problem{Type: ProblemUnavailable, Title: "Service Unavailable", Status: http.StatusServiceUnavailable,
			Detail: "the database is unavailable; nothing was changed, retry later"})
		return
	}
	log.ErrorContext(r.Context(), what, "err", err)
	status(w, r, http.StatusInternalServerError, "the server failed; the error was logged")
}

func (h *Handler) requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
}

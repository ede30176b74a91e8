// Package lambdahost runs AWS Lambda functions locally from their
// unmodified bootstrap binaries: it serves the Lambda Runtime API to N
// runtime processes per function (like Lambda execution environments),
// enforces each function's timeout by killing and restarting the process,
// turns HTTP requests on one port into API Gateway HTTP API payload v2
// events, RabbitMQ deliveries into Amazon MQ event batches (batch size,
// batching window, whole-batch retry, dead-lettering left to the queue's
// policy) and schedules into EventBridge scheduled events. Functions,
// routes, queue mappings and schedules can come from a SAM template
// (FromSAM). Its control API (control.go, the shape of internal/hostapi)
// stops and starts functions and restarts runtime processes. It knows
// nothing of the app it runs.
package lambdahost

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/orderflow/orderflow/telemetry"
)

// Function is one Lambda function.
type Function struct {
	// Name is the function name (AWS_LAMBDA_FUNCTION_NAME).
	Name string
	// Env is the function's environment (Config.Env overrides it).
	Env map[string]string
	// Timeout is the function timeout. Default: 3s, Lambda's default.
	Timeout time.Duration
	// Concurrency is the number of runtime processes (execution
	// environments), so the number of concurrent invocations. Default: 1.
	Concurrency int
	// MemoryMB is reported in AWS_LAMBDA_FUNCTION_MEMORY_SIZE. Default: 128.
	MemoryMB int
}

// Route sends HTTP requests to a function as HTTP API v2 events.
type Route struct {
	// Method is the HTTP method, or "ANY".
	Method string
	// Path is the route path with {parameters}, e.g. /api/orders/{id}.
	Path string
	// Function serves it.
	Function string
}

// Queue is an Amazon MQ (RabbitMQ) event source mapping.
type Queue struct {
	// Function consumes the queue.
	Function string
	// Queue is the queue name.
	Queue string
	// BatchSize is the most messages per event. Default: 100, as on AWS.
	BatchSize int
	// Window is the most time a batch waits to fill up. Default: 500ms.
	Window time.Duration
}

// Schedule invokes a function periodically with a scheduled event.
type Schedule struct {
	// Function is invoked.
	Function string
	// Every is the period.
	Every time.Duration
}

// Config configures a Host. The zero value of a field means its default.
type Config struct {
	// Bootstrap is the runtime executable every function runs (required).
	Bootstrap string
	// Functions are the functions (at least one).
	Functions []Function
	// Routes map HTTP requests to functions.
	Routes []Route
	// Queues are the RabbitMQ event source mappings.
	Queues []Queue
	// Schedules are the periodic invocations.
	Schedules []Schedule
	// RabbitMQURL is the broker of Queues (required with Queues).
	RabbitMQURL string
	// Env is the environment common to every function (app settings); it
	// wins over Function.Env. A key with an empty value is left unset.
	Env map[string]string
	// Addr is the HTTP listen address. Default: 127.0.0.1:0 (loopback).
	Addr string
	// Region is reported in AWS_REGION and ARNs. Default: us-east-1.
	Region string
	// MaxBodyBytes bounds HTTP request bodies, as API Gateway does (10 MB).
	// Default: 10 MiB.
	MaxBodyBytes int64
	// Stdout and Stderr receive the runtimes' output, prefixed with the
	// function name. Default: os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
	// Logger receives the host's own messages. Default: slog.Default().
	Logger *slog.Logger
	// Telemetry traces the invocations the host dispatches and records its
	// metrics (otel.go). Default: off.
	Telemetry *telemetry.Telemetry
}

func (c Config) withDefaults() Config {
	fns := make([]Function, len(c.Functions))
	for i, f := range c.Functions {
		if f.Timeout == 0 {
			f.Timeout = 3 * time.Second
		}
		if f.Concurrency == 0 {
			f.Concurrency = 1
		}
		if f.MemoryMB == 0 {
			f.MemoryMB = 128
		}
		fns[i] = f
	}
	c.Functions = fns
	qs := make([]Queue, len(c.Queues))
	for i, q := range c.Queues {
		if q.BatchSize == 0 {
			q.BatchSize = 100
		}
		if q.Window == 0 {
			q.Window = 500 * time.Millisecond
		}
		qs[i] = q
	}
	c.Queues = qs
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 10 << 20
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	if c.Bootstrap == "" {
		return fmt.Errorf("%w: Bootstrap is required", ErrConfig)
	}
	if len(c.Functions) == 0 {
		return fmt.Errorf("%w: no functions", ErrConfig)
	}
	names := map[string]bool{}
	for _, f := range c.Functions {
		if f.Name == "" || names[f.Name] {
			return fmt.Errorf("%w: function name %q is empty or repeated", ErrConfig, f.Name)
		}
		if f.Timeout < 0 || f.Concurrency < 0 || f.Concurrency > 64 {
			return fmt.Errorf("%w: function %s: timeout %s, concurrency %d (1 to 64)", ErrConfig, f.Name, f.Timeout, f.Concurrency)
		}
		names[f.Name] = true
	}
	for _, r := range c.Routes {
		if !names[r.Function] {
			return fmt.Errorf("%w: route %s %s: no function %q", ErrConfig, r.Method, r.Path, r.Function)
		}
		if !strings.HasPrefix(r.Path, "/") || r.Method == "" {
			return fmt.Errorf("%w: route %q %q", ErrConfig, r.Method, r.Path)
		}
		if strings.HasPrefix(r.Path+"/", "/admin/host/") {
			return fmt.Errorf("%w: route %s: /admin/host/ is the control API's", ErrConfig, r.Path)
		}
		if r.Method != "ANY" && !validMethod(r.Method) {
			return fmt.Errorf("%w: route method %q", ErrConfig, r.Method)
		}
	}
	for _, q := range c.Queues {
		if !names[q.Function] || q.Queue == "" || q.BatchSize < 1 || q.BatchSize > 10000 || q.Window < 0 || q.Window > 5*time.Minute {
			return fmt.Errorf("%w: queue mapping %+v (batch 1 to 10000, window up to 5m, known function)", ErrConfig, q)
		}
	}
	if len(c.Queues) > 0 && c.RabbitMQURL == "" {
		return fmt.Errorf("%w: RabbitMQURL is required with queue mappings", ErrConfig)
	}
	for _, s := range c.Schedules {
		if !names[s.Function] || s.Every < time.Second {
			return fmt.Errorf("%w: schedule %+v (known function, every >= 1s)", ErrConfig, s)
		}
	}
	return nil
}

func validMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

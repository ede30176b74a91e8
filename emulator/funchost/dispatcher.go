package funchost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// HostVersion is sent as X-Azure-Functions-HostVersion and in User-Agent: the
// real host version whose behaviour this host follows (functions-protocol 2.1).
const HostVersion = "4.1037.0"

// Invocation is one function call a trigger asks for.
type Invocation struct {
	// Function is the function (folder) name; the handler gets POST /<Function>.
	Function string
	// Reason is logged like the real host's "Executing 'Functions.X' (Reason='…')".
	Reason string
	// Payload is the {Data, Metadata} body; Metadata.sys is added on send.
	Payload *Payload
}

// Dispatcher sends invocations to the handler. Triggers settle their
// messages on its answer: a nil error is success, any error is a failed
// invocation (non-2xx, bad response, timeout, crash).
type Dispatcher interface {
	Invoke(ctx context.Context, inv Invocation) (*Result, error)
}

// dispatcher implements Dispatcher over the supervisor's instances, applies
// functionTimeout and tracks in-flight invocations for a bounded drain.
type dispatcher struct {
	app    *App
	sup    *supervisor
	out    *binder
	tel    *hostTelemetry
	ctl    *control
	log    *slog.Logger
	client *http.Client
	now    func() time.Time

	mu       sync.Mutex
	inflight int
	idle     chan struct{} // closed when inflight drops to 0 while closing
	closed   bool
}

func newDispatcher(app *App, sup *supervisor, log *slog.Logger) *dispatcher {
	return &dispatcher{
		app: app,
		sup: sup,
		out: newBinder(app, log),
		log: log,
		// No client timeout: functionTimeout bounds each call via its context.
		client: &http.Client{
			Transport:     &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now: time.Now,
	}
}

// lease is one in-flight call on one handler process.
type lease struct {
	d        *dispatcher
	fn       string
	id       string
	proc     *process
	ctx      context.Context
	cancel   context.CancelFunc
	started  time.Time
	released bool
	// clientWait is the time (ns) spent blocked writing a streamed response
	// to the HTTP client. It is not the handler's time: when functionTimeout
	// fires but the handler's own share stayed below it, the client was too
	// slow and the handler is not restarted.
	clientWait atomic.Int64
}

// acquire registers an in-flight invocation, waits for a ready instance and
// returns a context bounded by functionTimeout.
func (d *dispatcher) acquire(ctx context.Context, fn, reason string) (*lease, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, &InvocationError{Function: fn, Instance: -1, Err: fmt.Errorf("%w: host is stopping", ErrHandlerUnavailable)}
	}
	d.inflight++
	d.mu.Unlock()
	l := &lease{d: d, fn: fn, id: uuid.NewString(), started: d.now()}
	if t := d.app.FunctionTimeout; t > 0 {
		l.ctx, l.cancel = context.WithTimeoutCause(ctx, t, ErrTimeout)
	} else {
		l.ctx, l.cancel = context.WithCancel(ctx)
	}
	p, err := d.sup.pick(l.ctx)
	if err != nil {
		l.release()
		return nil, &InvocationError{Function: fn, InvocationID: l.id, Instance: -1, Err: err}
	}
	l.proc = p
	if d.log.Enabled(context.Background(), slog.LevelInfo) { // once per invocation: see lease.release
		d.log.LogAttrs(context.Background(), slog.LevelInfo, "Executing 'Functions."+fn+"' (Reason='"+reason+"', Id="+l.id+")", slog.Int("instance", p.instance))
	}
	return l, nil
}

// maxRedials bounds how often an invocation that could not even connect is
// moved to another (or the restarted) process.
const maxRedials = 3

// redial handles a connect failure: nothing reached the handler, so the
// invocation may safely go to the next ready process once the dead one is
// gone (the supervisor restarts it). Reports whether to retry.
func (l *lease) redial(err error, attempt int) bool {
	var op *net.OpError
	if attempt >= maxRedials || l.ctx.Err() != nil || !errors.As(err, &op) || op.Op != "dial" {
		return false
	}
	select {
	case <-l.proc.exited:
	case <-time.After(time.Second):
	case <-l.ctx.Done():
		return false
	}
	p, perr := l.d.sup.pick(l.ctx)
	if perr != nil {
		return false
	}
	l.d.log.Debug("handler unreachable; invocation moved", "function", l.fn, "from", l.proc.instance, "to", p.instance)
	l.proc = p
	return true
}

// timedOut reports whether the lease's functionTimeout fired.
func (l *lease) timedOut() bool { return errors.Is(context.Cause(l.ctx), ErrTimeout) }

// fail converts a transport error into an InvocationError; on timeout it
// restarts the handler instance, as the real host does (functions-protocol 5.3).
func (l *lease) fail(err error) error {
	ie := &InvocationError{Function: l.fn, InvocationID: l.id, Instance: l.proc.instance}
	var inner *InvocationError
	switch {
	case l.timedOut() && l.clientWait.Load() > 0 && l.d.now().Sub(l.started)-time.Duration(l.clientWait.Load()) < l.d.app.FunctionTimeout:
		ie.Err = ErrTimeout
		ie.Reason = "the HTTP client read the response too slowly; the handler is not restarted for it"
		l.d.log.Warn(fmt.Sprintf("Timeout value of %s reached by function 'Functions.%s' (Id: '%s') while the client read the response slowly; the handler is not restarted.", l.d.app.FunctionTimeout, l.fn, l.id), "instance", l.proc.instance)
	case l.timedOut():
		ie.Err = ErrTimeout
		ie.Reason = fmt.Sprintf("timeout value of %s was exceeded", l.d.app.FunctionTimeout)
		l.d.log.Error(fmt.Sprintf("Timeout value of %s exceeded by function 'Functions.%s' (Id: '%s'). Initiating cancellation; restarting the handler.", l.d.app.FunctionTimeout, l.fn, l.id), "instance", l.proc.instance)
		l.d.sup.restart(l.proc)
	case errors.As(err, &inner):
		ie.StatusCode, ie.Reason, ie.Err = inner.StatusCode, inner.Reason, inner.Err
	default:
		ie.Err = err
	}
	return ie
}

// release ends the invocation and logs its outcome.
func (l *lease) release(errs ...error) {
	if l.released {
		return
	}
	l.released = true
	l.cancel()
	if l.proc != nil {
		status := "Succeeded"
		var err error
		if len(errs) > 0 && errs[0] != nil {
			status, err = "Failed", errs[0]
		}
		took := l.d.now().Sub(l.started)
		l.d.tel.recordInvocation(l.ctx, l.fn, took, err)
		l.d.ctl.count(l.fn, err)
		// Once per invocation: built only when logged, with typed
		// attributes and no fmt (a measurable share of the host's CPU per
		// order, see docs/performance.md).
		if l.d.log.Enabled(context.Background(), slog.LevelInfo) {
			msg := "Executed 'Functions." + l.fn + "' (" + status + ", Id=" + l.id + ", Duration=" + strconv.FormatInt(took.Milliseconds(), 10) + "ms)"
			if err != nil {
				l.d.log.LogAttrs(context.Background(), slog.LevelInfo, msg, slog.Int("instance", l.proc.instance), slog.Any("err", err))
			} else {
				l.d.log.LogAttrs(context.Background(), slog.LevelInfo, msg, slog.Int("instance", l.proc.instance))
			}
		}
	}
	d := l.d
	d.mu.Lock()
	d.inflight--
	if d.inflight == 0 && d.idle != nil {
		close(d.idle)
		d.idle = nil
	}
	d.mu.Unlock()
}

// addHeaders sets the three headers of functions-protocol 2.1.
func (l *lease) addHeaders(h http.Header) {
	h.Set("X-Azure-Functions-HostVersion", HostVersion)
	h.Set("X-Azure-Functions-InvocationId", l.id)
	ua := "Azure-Functions-Host/" + HostVersion
	if prev := h.Get("User-Agent"); prev != "" {
		ua = prev + " " + ua
	}
	h.Set("User-Agent", ua)
}

// Invoke posts the payload to /<Function> and interprets the answer (functions-protocol 2.1, 4).
func (d *dispatcher) Invoke(ctx context.Context, inv Invocation) (*Result, error) {
	l, err := d.acquire(ctx, inv.Function, inv.Reason)
	if err != nil {
		return nil, err
	}
	res, err := d.invoke(l, inv)
	for attempt := 0; err != nil && l.redial(err, attempt); attempt++ {
		res, err = d.invoke(l, inv)
	}
	if err != nil {
		err = l.fail(err)
	} else if fn := d.app.function(inv.Function); fn != nil {
		if berr := d.out.bind(l.ctx, fn, res); berr != nil {
			err = &InvocationError{Function: inv.Function, InvocationID: l.id, Instance: l.proc.instance, Err: berr}
		}
	}
	l.release(err)
	if err != nil {
		return nil, err
	}
	for _, line := range res.Logs {
		d.log.Info(line, "function", inv.Function, "invocationId", l.id, "instance", l.proc.instance)
	}
	return res, nil
}

func (d *dispatcher) invoke(l *lease, inv Invocation) (*Result, error) {
	p := inv.Payload
	if p == nil {
		p = &Payload{}
	}
	body, err := p.Body(inv.Function, d.now(), uuid.NewString())
	if err != nil {
		return nil, fmt.Errorf("encoding payload: %w", err)
	}
	req, err := http.NewRequestWithContext(l.ctx, http.MethodPost, l.proc.baseURL+"/"+inv.Function, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	l.addHeaders(req.Header)
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling handler: %w", err)
	}
	defer resp.Body.Close()
	res, err := parseResult(resp)
	if err != nil {
		return nil, err
	}
	res.InvocationID, res.Instance = l.id, l.proc.instance
	return res, nil
}

// close refuses new invocations and waits until in-flight ones end or ctx
// does. Returns the number still running when it gave up.
func (d *dispatcher) close(ctx context.Context) int {
	d.mu.Lock()
	d.closed = true
	if d.inflight == 0 {
		d.mu.Unlock()
		return 0
	}
	if d.idle == nil {
		d.idle = make(chan struct{})
	}
	idle := d.idle
	d.mu.Unlock()
	select {
	case <-idle:
		return 0
	case <-ctx.Done():
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.inflight
	}
}

package funchost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// supervisor runs Config.Instances handler processes the way the real host
// runs its one (functions-protocol 1.1, 1.2): free loopback port, the worker environment, GET /
// readiness polling, restart on exit, give up after 3 failures in the restart
// window, SIGTERM then SIGKILL on stop.
type supervisor struct {
	app *App
	cfg Config
	log *slog.Logger
	tel *hostTelemetry
	ctl *control

	outMu, errMu sync.Mutex

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever an instance changes state
	current  []*process    // running process per instance, ready or not
	stopping bool
	err      error         // set once the supervisor gave up
	done     chan struct{} // closed when the supervisor gives up

	rr     atomic.Uint64
	cancel context.CancelFunc
	loops  sync.WaitGroup
}

// process is one generation of a handler instance.
type process struct {
	instance int
	cmd      *exec.Cmd
	port     int
	workerID string
	baseURL  string
	ready    bool
	exited   chan struct{}
	exitErr  error
	// restarting marks a kill the host asked for (functionTimeout); it
	// counts towards giving up like a crash.
	restarting atomic.Bool
	// operator marks a restart asked for through the control API; it does
	// not count towards giving up.
	operator atomic.Bool
}

func newSupervisor(app *App, cfg Config) *supervisor {
	return &supervisor{
		app:     app,
		cfg:     cfg,
		log:     cfg.Logger,
		changed: make(chan struct{}),
		current: make([]*process, cfg.Instances),
		done:    make(chan struct{}),
	}
}

// broadcast wakes everyone waiting for a state change. Caller holds s.mu.
func (s *supervisor) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// start launches every instance and waits until all are ready, or the
// supervisor gives up, or ctx ends.
func (s *supervisor) start(ctx context.Context) error {
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	for i := range s.cfg.Instances {
		s.loops.Add(1)
		go s.run(loopCtx, i)
	}
	for {
		s.mu.Lock()
		ready := 0
		for _, p := range s.current {
			if p != nil && p.ready {
				ready++
			}
		}
		err, ch := s.err, s.changed
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if ready == s.cfg.Instances {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the handler to be ready: %w", ctx.Err())
		}
	}
}

// run keeps instance i alive until stop or give-up.
func (s *supervisor) run(ctx context.Context, i int) {
	defer s.loops.Done()
	var failures []time.Time
	for ctx.Err() == nil {
		p, err := s.launch(i)
		if err == nil {
			err = s.waitReady(ctx, p)
			if err == nil {
				s.setReady(p)
				<-p.exited
				err = describeExit(p.exitErr)
			} else {
				_ = kill(p.cmd)
				<-p.exited
			}
			s.clear(p)
		}
		if ctx.Err() != nil {
			return
		}
		s.tel.restarted(ctx, i)
		s.ctl.restarted(i)
		// An operator's restart (control API) is not a failure: asking for
		// it three times must not make the host give up.
		if p != nil && p.operator.Load() {
			s.log.Info("handler instance restarted through the control API", "instance", i)
			continue
		}
		// A restart the host asked for (functionTimeout) counts like a
		// crash: after issue 13 a timeout can only be the handler's doing
		// (slow clients are answered 408 before a slot is taken), and a
		// handler that hangs over and over is as unusable as one that
		// crashes.
		if p != nil && p.restarting.Load() {
			err = fmt.Errorf("restarted by the host after functionTimeout: %w", err)
		}
		s.log.Error("handler instance failed", "instance", i, "err", err)
		now := time.Now()
		failures = append(failures, now)
		for len(failures) > 0 && now.Sub(failures[0]) > s.cfg.RestartWindow {
			failures = failures[1:]
		}
		if len(failures) >= 3 {
			s.giveUp(fmt.Errorf("%w: instance %d failed %d times within %s; last error: %v", ErrGaveUp, i, len(failures), s.cfg.RestartWindow, err))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(len(failures)) * 100 * time.Millisecond):
		}
	}
}

func describeExit(err error) error {
	if err == nil {
		return errors.New("handler exited with code 0")
	}
	return fmt.Errorf("handler exited: %w", err)
}

func (s *supervisor) giveUp(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || s.stopping {
		return
	}
	s.err = err
	s.log.Error("the handler keeps failing; the host gives up (the real host stops the app here)", "err", err)
	close(s.done)
	s.broadcast()
}

// freePort binds 127.0.0.1:0 and releases it, as the real host picks the port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *supervisor) launch(i int) (*process, error) {
	// customHandler.port fixes the port (one instance; checked in New);
	// otherwise a free one, as the real host picks it.
	port := s.app.Handler.Port
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	p := &process{
		instance: i,
		port:     port,
		workerID: uuid.NewString(),
		baseURL:  "http://127.0.0.1:" + strconv.Itoa(port),
		exited:   make(chan struct{}),
	}
	h := s.app.Handler
	cmd := exec.Command(h.Executable, h.Arguments...)
	cmd.Dir = h.WorkingDirectory
	cmd.Env = s.environ(p)
	name := filepath.Base(s.app.Dir)
	outW := &lineWriter{mu: &s.outMu, out: s.cfg.Stdout, prefix: fmt.Sprintf("[%s#%d] ", name, i)}
	errW := &lineWriter{mu: &s.errMu, out: s.cfg.Stderr, prefix: fmt.Sprintf("[%s#%d] ", name, i)}
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.WaitDelay = 2 * time.Second
	setProcessGroup(cmd)
	p.cmd = cmd

	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return nil, errors.New("host is stopping")
	}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("starting handler %q: %w", h.Executable, err)
	}
	s.current[i] = p
	s.mu.Unlock()
	s.log.Info("handler instance started", "instance", i, "pid", cmd.Process.Pid, "port", port, "workerId", p.workerID)
	go func() {
		p.exitErr = cmd.Wait()
		outW.flush()
		errW.flush()
		close(p.exited)
	}()
	return p, nil
}

// environ is the handler's environment (functions-protocol 1.1): the host's environment and app
// settings, plus the worker variables.
func (s *supervisor) environ(p *process) []string {
	port := strconv.Itoa(p.port)
	extra := map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT":      port,
		"FUNCTIONS_HTTPWORKER_PORT":         port,
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID": p.workerID,
		"FUNCTIONS_HTTPWORKER_ID":           p.workerID,
		"FUNCTIONS_APP_ROOT_PATH":           s.app.Dir,
	}
	env := make([]string, 0, len(s.app.settings.values)+len(extra))
	for k, v := range s.app.settings.values {
		if _, ok := extra[k]; !ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// waitReady polls GET / every 25 ms; any HTTP response means ready (functions-protocol 1.2).
func (s *supervisor) waitReady(ctx context.Context, p *process) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.NewTimer(s.cfg.ReadyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.baseURL+"/", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("handler exited before it was ready: %w", describeExit(p.exitErr))
		case <-deadline.C:
			return fmt.Errorf("handler did not answer GET / on port %d within %s", p.port, s.cfg.ReadyTimeout)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (s *supervisor) setReady(p *process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.ready = true
	s.log.Info("handler instance ready", "instance", p.instance, "port", p.port)
	s.broadcast()
}

func (s *supervisor) clear(p *process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current[p.instance] == p {
		s.current[p.instance] = nil
	}
	p.ready = false
	s.broadcast()
}

// pick returns a ready process, round-robin over instances. Invocations that
// arrive while no instance is ready wait for one, as in the real host.
func (s *supervisor) pick(ctx context.Context) (*process, error) {
	for {
		s.mu.Lock()
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: %w", ErrHandlerUnavailable, err)
		}
		if s.stopping {
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: host is stopping", ErrHandlerUnavailable)
		}
		n := len(s.current)
		start := int(s.rr.Add(1) % uint64(n))
		for k := range n {
			p := s.current[(start+k)%n]
			if p == nil || !p.ready {
				continue
			}
			select {
			case <-p.exited: // dead; its loop is about to restart it
				continue
			default:
			}
			s.mu.Unlock()
			return p, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for a ready handler: %w", ErrHandlerUnavailable, ctx.Err())
		}
	}
}

// restart kills p so that its loop starts a fresh process; used after a
// functionTimeout, as the real host restarts the worker (functions-protocol 5.3).
func (s *supervisor) restart(p *process) {
	s.mu.Lock()
	if s.current[p.instance] == p {
		p.ready = false
		s.broadcast()
	}
	s.mu.Unlock()
	if p.restarting.CompareAndSwap(false, true) {
		_ = kill(p.cmd)
	}
}

// restartByOperator restarts p for the control API, without counting it as
// a failure.
func (s *supervisor) restartByOperator(p *process) {
	p.operator.Store(true)
	s.restart(p)
}

// stop terminates every instance: SIGTERM, then SIGKILL after KillTimeout or
// when ctx ends. Safe to call more than once and before start.
func (s *supervisor) stop(ctx context.Context) {
	s.mu.Lock()
	s.stopping = true
	procs := make([]*process, 0, len(s.current))
	for _, p := range s.current {
		if p != nil {
			procs = append(procs, p)
		}
	}
	s.broadcast()
	s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = terminate(p.cmd)
			grace := time.NewTimer(s.cfg.KillTimeout)
			defer grace.Stop()
			select {
			case <-p.exited:
				return
			case <-grace.C:
			case <-ctx.Done():
			}
			s.log.Warn("handler did not exit after SIGTERM; killing it", "instance", p.instance)
			_ = kill(p.cmd)
			<-p.exited
		}()
	}
	wg.Wait()
	s.loops.Wait()
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"sync"
	"time"
)

// The load client runs in a process of its own so that /proc tells its CPU
// apart from the in-process host and emulator: the bench binary started
// again with loadWorkerEnv set serves loadCommands read from stdin, one JSON
// line each, with one loadReply line on stdout.

// loadWorkerEnv makes the bench binary a load worker for the URL it holds.
const loadWorkerEnv = "BENCH_LOAD_WORKER_URL"

// loadCommand is one loop for the worker to run.
type loadCommand struct {
	Open     bool          // open loop at Rate; otherwise closed loop
	Clients  int           // closed loop
	Limit    int           // closed loop: at most this many orders (0: none)
	Rate     float64       // open loop: orders per second
	Duration time.Duration // both
}

// loadReply is the outcome of one loadCommand.
type loadReply struct {
	Placed  []placed
	Elapsed time.Duration
	Err     string
}

// loadProc is a running load worker.
type loadProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	mu  sync.Mutex // one command at a time
}

// startLoad starts a load worker that posts orders to url over at most
// conns connections; with a non-empty profile it writes its CPU profile
// there when it stops.
func startLoad(ctx context.Context, url string, conns int, profile string) (*loadProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the bench binary: %w", err)
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), loadWorkerEnv+"="+url, fmt.Sprintf("BENCH_LOAD_WORKER_CONNS=%d", conns),
		"BENCH_LOAD_WORKER_PROFILE="+profile)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the load worker: %w", err)
	}
	return &loadProc{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}, nil
}

func (p *loadProc) pid() int { return p.cmd.Process.Pid }

// stop ends the worker (it exits when its stdin closes).
func (p *loadProc) stop() {
	_ = p.in.Close()
	waitOrKill(p.cmd)
}

func (p *loadProc) run(c loadCommand) ([]placed, time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, _ := json.Marshal(c) // plain struct: cannot fail
	if _, err := p.in.Write(append(b, '\n')); err != nil {
		return nil, 0, fmt.Errorf("load worker: %w", err)
	}
	line, err := p.out.ReadBytes('\n')
	if err != nil {
		return nil, 0, fmt.Errorf("load worker ended: %w", err)
	}
	var r loadReply
	if err := json.Unmarshal(line, &r); err != nil {
		return nil, 0, fmt.Errorf("load worker reply: %w", err)
	}
	if r.Err != "" {
		return r.Placed, r.Elapsed, errors.New(r.Err)
	}
	return r.Placed, r.Elapsed, nil
}

// closedLoop is orderClient.closedLoop run by the worker.
func (p *loadProc) closedLoop(clients int, duration time.Duration, limit int) ([]placed, time.Duration, error) {
	return p.run(loadCommand{Clients: clients, Duration: duration, Limit: limit})
}

// openLoop is orderClient.openLoop run by the worker.
func (p *loadProc) openLoop(rate float64, duration time.Duration) ([]placed, error) {
	ps, _, err := p.run(loadCommand{Open: true, Rate: rate, Duration: duration})
	return ps, err
}

// loadWorker serves loadCommands on stdin until it closes; main calls it
// when loadWorkerEnv is set.
func loadWorker(url string, conns int, profile string) error {
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	c := newOrderClient(url, conns)
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		var cmd loadCommand
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			return fmt.Errorf("load command: %w", err)
		}
		var r loadReply
		var err error
		if cmd.Open {
			r.Placed, err = c.openLoop(context.Background(), cmd.Rate, cmd.Duration)
		} else {
			r.Placed, r.Elapsed, err = c.closedLoop(context.Background(), cmd.Clients, cmd.Duration, cmd.Limit)
		}
		if err != nil {
			r.Err = err.Error()
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if _, err := out.Write(append(b, '\n')); err != nil {
			return err
		}
		if err := out.Flush(); err != nil {
			return err
		}
	}
	return in.Err()
}

// cpuGroup is the worker's process as a group for startCPU.
func (p *loadProc) cpuGroup() map[cpuGroup]func() []int {
	return map[cpuGroup]func() []int{cpuLoad: func() []int { return []int{p.pid()} }}
}

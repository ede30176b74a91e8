package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// directHandler is the handler binary served on its own port with no host
// in front: the baseline of a user who runs the same code as a plain
// service. It shares the app's database and broker.
type directHandler struct {
	URL string
	cmd *exec.Cmd
}

// startDirect starts bin (the handler, or bench/testdata/minimal) with the
// app's settings on a free port and waits until it answers GET /.
// overrides replace app settings.
func (a *appRun) startDirect(ctx context.Context, bin string, overrides map[string]string) (*directHandler, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port), "PORT="+strconv.Itoa(port), "FUNCTIONS_APP_ROOT_PATH="+a.dir)
	for k, v := range a.settings {
		if o, ok := overrides[k]; ok {
			v = o
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = a.dir
	cmd.Stdout, cmd.Stderr = a.out, a.log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	d := &directHandler{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(d.URL + "/")
		if err == nil {
			resp.Body.Close()
			return d, nil
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("%s not ready after 30s: %w\n%s", bin, err, a.log)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (d *directHandler) pid() int { return d.cmd.Process.Pid }

func (d *directHandler) stop() {
	_ = d.cmd.Process.Signal(os.Interrupt)
	waitOrKill(d.cmd)
}

// waitOrKill waits for cmd, which was asked to end, and kills it after 10 s.
func waitOrKill(cmd *exec.Cmd) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// wirePass starts bin with its database connections through a
// wireCounter and places orders sequentially-concurrently (cfg.clients
// clients, n orders), returning PostgreSQL round trips and transactions
// per order as the wire shows them.
func (a *appRun) wirePass(ctx context.Context, cfg runConfig, bin string, n int) (roundTrips, xacts float64, err error) {
	wc, err := startWireCounter("127.0.0.1:5432")
	if err != nil {
		return 0, 0, err
	}
	defer wc.Stop()
	url := strings.Replace(a.settings["DATABASE_URL"], "127.0.0.1:5432", wc.Addr(), 1)
	d, err := a.startDirect(ctx, bin, map[string]string{"DATABASE_URL": url})
	if err != nil {
		return 0, 0, err
	}
	defer d.stop()
	c := newOrderClient(d.URL, cfg.clients)
	defer c.close()
	if _, _, err := c.closedLoop(ctx, cfg.clients, time.Minute, 100); err != nil {
		return 0, 0, err
	}
	rt0, x0 := wc.roundTrips.Load(), wc.xacts.Load()
	orders, _, err := c.closedLoop(ctx, cfg.clients, time.Minute, n)
	if err != nil {
		return 0, 0, err
	}
	rt, x := wc.roundTrips.Load()-rt0, wc.xacts.Load()-x0
	return float64(rt) / float64(len(orders)), float64(x) / float64(len(orders)), nil
}

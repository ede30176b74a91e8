package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// directHandler is the handler binary served on its own port with no host
// in front: the baseline of a user who runs the same code as a plain
// service. It shares the app's database and broker.
type directHandler struct {
	URL string
	cmd *exec.Cmd
}

// startDirect starts cfg.handlerBin with the app's settings and waits
// until it answers GET /.
func (a *appRun) startDirect(ctx context.Context, bin string) (*directHandler, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port), "FUNCTIONS_APP_ROOT_PATH="+a.dir)
	for k, v := range a.settings {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = a.dir
	cmd.Stdout, cmd.Stderr = a.out, a.log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the handler directly: %w", err)
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
			return nil, fmt.Errorf("direct handler not ready after 30s: %w\n%s", err, a.log)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (d *directHandler) pid() int { return d.cmd.Process.Pid }

func (d *directHandler) stop() {
	_ = d.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
}

package hostapi

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// recorder is a Controller that writes down the call it gets.
type recorder struct{ got string }

func (r *recorder) StopFunction(_ context.Context, name string) error {
	r.got = "stop " + name
	return nil
}

func (r *recorder) StartFunction(_ context.Context, name string) error {
	r.got = "start " + name
	return nil
}

func (r *recorder) RestartInstance(i int) error {
	r.got = fmt.Sprint("restart ", i)
	return nil
}

func TestCall(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		path, want string
		err        error
	}{
		{"/admin/host/functions/ProcessOrder/stop", "stop ProcessOrder", nil},
		{"/admin/host/functions/ProcessOrder/start", "start ProcessOrder", nil},
		{"/admin/host/instances/2/restart", "restart 2", nil},
		{"/admin/host/instances/two/restart", "", ErrBadInstance},
		{"/admin/host/functions/ProcessOrder/pause", "", ErrNoEndpoint},
		{"/admin/host/functions/ProcessOrder", "", ErrNoEndpoint},
		{"/admin/host/instances/2/restart/now", "", ErrNoEndpoint},
		{"/api/functions/x/stop", "", ErrNoEndpoint},
	} {
		call, err := Call(c.path)
		if !errors.Is(err, c.err) {
			t.Errorf("Call(%q) error = %v, want %v", c.path, err, c.err)
			continue
		}
		if err != nil {
			continue
		}
		var r recorder
		if err := call(context.Background(), &r); err != nil || r.got != c.want {
			t.Errorf("Call(%q) made %q (%v), want %q", c.path, r.got, err, c.want)
		}
	}
}

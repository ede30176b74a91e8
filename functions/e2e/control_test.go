package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/orderflow/orderflow/functions/apptest"
	"github.com/orderflow/orderflow/shared/deadletter"
)

// TestStopStartConsumerOrderWaitsInQueue stops ProcessOrder through the
// host's control API, places an order, sees it wait in the consumer's queue
// (the broker's own count) while SendEmail goes on, then starts
// ProcessOrder again and sees the order confirmed.
func TestStopStartConsumerOrderWaitsInQueue(t *testing.T) {
	t.Parallel()
	forEachAzureBroker(t, func(t *testing.T, kind apptest.Broker) {
		a := apptest.Start(t, kind, apptest.Options{})
		fn := "ProcessOrder"
		if kind == apptest.RabbitMQ {
			fn += "RabbitMQ"
		}
		control(t, a, fn, "stop")
		if st := functionState(t, a, fn); st != "stopped" {
			t.Fatalf("state %q after stop", st)
		}
		id := a.PlaceOrder(t, seededProduct, 1)
		a.WaitFor(t, "the email while ProcessOrder is stopped", 30*time.Second, func() (bool, string) {
			n := a.Count(t, "SELECT count(*) FROM sent_emails")
			return n == 1, fmt.Sprintf("%d emails", n)
		})
		a.WaitFor(t, "send-email drained", 10*time.Second, func() (bool, string) {
			d, err := depthOf(a, "send-email")
			return err == nil && d.Live == 0 && d.Dead == 0, fmt.Sprintf("depth %+v, err %v", d, err)
		})
		a.WaitFor(t, "the order waiting in process-order", 10*time.Second, func() (bool, string) {
			d, err := depthOf(a, "process-order")
			return err == nil && d.Live == 1, fmt.Sprintf("depth %+v, err %v", d, err)
		})
		if c := a.StatusCounts(t); c["pending"] != 1 {
			t.Fatalf("statuses %v while ProcessOrder is stopped, want 1 pending", c)
		}
		control(t, a, fn, "start")
		a.WaitFor(t, "order "+id+" confirmed", 30*time.Second, func() (bool, string) {
			c := a.StatusCounts(t)
			return c["confirmed"] == 1, fmt.Sprintf("statuses %v", c)
		})
		if st := functionState(t, a, fn); st != "running" {
			t.Errorf("state %q after start", st)
		}
		a.WaitFor(t, "process-order empty", 10*time.Second, func() (bool, string) {
			d, err := depthOf(a, "process-order")
			return err == nil && d.Live == 0 && d.Dead == 0, fmt.Sprintf("depth %+v, err %v", d, err)
		})
	})
}

type depther interface {
	Depth(ctx context.Context, consumer string) (deadletter.Depth, error)
}

func depthOf(a *apptest.App, consumer string) (deadletter.Depth, error) {
	return a.DeadLetters.(depther).Depth(a.Ctx, consumer)
}

func control(t *testing.T, a *apptest.App, fn, action string) {
	t.Helper()
	resp, err := http.Post(a.URL+"/admin/host/functions/"+fn+"/"+action, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("%s %s = %d", action, fn, resp.StatusCode)
	}
}

func functionState(t *testing.T, a *apptest.App, fn string) string {
	t.Helper()
	resp, err := http.Get(a.URL + "/admin/host/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Functions []struct{ Name, State string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	for _, f := range st.Functions {
		if f.Name == fn {
			return f.State
		}
	}
	return "absent"
}

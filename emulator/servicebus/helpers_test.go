package servicebus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/go-amqp"
	"github.com/orderflow/orderflow/emulator/servicebus"
)

// Helpers shared by the conformance test files; each file keeps its own setup.

var entitySeq atomic.Int64

// testLogger logs emulator debug lines through t.Log when SBEMULATOR_DEBUG is set.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("SBEMULATOR_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// uniqueName returns an entity name unique within the test binary.
func uniqueName(t *testing.T) string {
	name := strings.NewReplacer("/", "-", " ", "-").Replace(strings.ToLower(t.Name()))
	return fmt.Sprintf("%s-%d", name, entitySeq.Add(1))
}

// startServer starts an emulator with cfg, its AMQP listener on 127.0.0.1:0, and returns it with a
// context that bounds the test (testContext). Stopping it is left to the caller's setup.
func startServer(t *testing.T, cfg servicebus.Config) (*servicebus.Server, context.Context) {
	t.Helper()
	ctx := testContext(t)
	cfg.AMQPAddr, cfg.Logger = "127.0.0.1:0", testLogger(t)
	srv, err := servicebus.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return srv, ctx
}

// testContext bounds a test at 60 s: far above what any test takes alone, so that one that
// hangs fails on its own instead of at go test's timeout, and still above what the slowest
// (44 subscriptions, or a dozen parallel subtests on one server) take under -race on two
// cores shared with every other package's tests, where 30 s ran out.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// stopAtCleanup stops srv, bounded, when the test ends and fails the test if Stop fails.
func stopAtCleanup(t *testing.T, srv *servicebus.Server) {
	t.Cleanup(func() {
		stopCtx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		if err := srv.Stop(stopCtx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
}

// newClient returns an SDK client for srv, closed when the test ends.
func newClient(t *testing.T, srv *servicebus.Server) *azservicebus.Client {
	t.Helper()
	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		t.Fatalf("NewClientFromConnectionString: %v", err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	return client
}

// receiveN receives until n messages arrived, failing the test if the context ends first.
func receiveN(t *testing.T, ctx context.Context, r interface {
	ReceiveMessages(context.Context, int, *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error)
}, n int) []*azservicebus.ReceivedMessage {
	t.Helper()
	var out []*azservicebus.ReceivedMessage
	// Each call waits for all it asked for: a peek-lock call that returns with credit left
	// starts the SDK's releaser, which can hand the next call two messages swapped
	// (TestSessionOrderWithTwoSessionsInterleaved).
	opts := &azservicebus.ReceiveMessagesOptions{TimeAfterFirstMessage: 20 * time.Second}
	for len(out) < n {
		msgs, err := r.ReceiveMessages(ctx, n-len(out), opts)
		if err != nil {
			t.Fatalf("ReceiveMessages after %d of %d: %v", len(out), n, err)
		}
		out = append(out, msgs...)
	}
	return out
}

func bodiesOf(msgs []*azservicebus.ReceivedMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Body)
	}
	return out
}

// sbCode is the SDK's error code of err, "" if it has none.
func sbCode(err error) azservicebus.Code {
	var sbErr *azservicebus.Error
	if errors.As(err, &sbErr) {
		return sbErr.Code
	}
	return ""
}

// amqpCondition is the AMQP error condition of err, "" if it has none.
func amqpCondition(err error) amqp.ErrCond {
	var e *amqp.Error
	if errors.As(err, &e) {
		return e.Condition
	}
	return ""
}

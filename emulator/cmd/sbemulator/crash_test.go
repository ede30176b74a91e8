package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/orderflow/orderflow/internal/testkit"
)

// crashPlan is a crash test: rounds of producers and consumers against
// the binary with -data-dir, each round ended by SIGKILL, then a drain.
type crashPlan struct {
	kills     int
	producers int
	consumers int
	round     time.Duration
}

// ledger is the clients' record of every message id.
type ledger struct {
	mu        sync.Mutex
	sent      int             // send attempts
	acked     map[string]bool // sends the emulator acknowledged
	received  int             // deliveries, redeliveries included
	seen      map[string]bool // ids received at least once
	completed map[string]int  // acknowledged completions per id
	wrongBody int             // deliveries whose body is not their id
}

// delivered counts a delivery of m; its body must be its id, as sent.
func (l *ledger) delivered(m *azservicebus.ReceivedMessage) {
	l.received++
	l.seen[m.MessageID] = true
	if string(m.Body) != m.MessageID {
		l.wrongBody++
	}
}

func (l *ledger) add(f func(*ledger)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l)
}

const crashConfig = `{"UserConfig": {"Namespaces": [{"Name": "sbemulatorns",
  "Queues": [{"Name": "work", "Properties": {"LockDuration": "PT30S", "MaxDeliveryCount": 1000}}]}]}}`

// runCrashPlan runs p and checks the accounting (with a small
// -compact-growth, so the log is also compacted while it runs and kills
// land during compactions too, and a small -hot-bytes, so most deliveries
// read their message back from the log): no acknowledged send lost, no
// acknowledged completion undone (a message completed twice), every body
// as sent.
func runCrashPlan(t *testing.T, p crashPlan) {
	bin := setup(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "Config.json")
	if err := os.WriteFile(cfgPath, []byte(crashConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	logs := &testkit.Buffer{} // the emulator's log lines, for the count of compactions
	l := &ledger{acked: map[string]bool{}, seen: map[string]bool{}, completed: map[string]int{}}
	for round := range p.kills {
		cmd, connStr := launch(t, context.Background(), logs, bin, "-config", cfgPath, "-data-dir", dataDir, "-compact-growth", "65536", "-hot-bytes", "1")
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		client, err := azservicebus.NewClientFromConnectionString(connStr, &azservicebus.ClientOptions{
			RetryOptions: azservicebus.RetryOptions{MaxRetries: -1}, // a retried send could store an id twice
		})
		if err != nil {
			t.Fatal(err)
		}
		for g := range p.producers {
			wg.Go(func() { produce(ctx, client, l, fmt.Sprintf("r%d-p%d", round, g)) })
		}
		for range p.consumers {
			wg.Go(func() { consume(ctx, client, l) })
		}
		time.Sleep(p.round)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		cancel()
		wg.Wait()
		_ = client.Close(context.Background())
	}
	// Drain: every acknowledged send must still be there to complete.
	cmd, connStr := launch(t, context.Background(), logs, bin, "-config", cfgPath, "-data-dir", dataDir, "-compact-growth", "65536", "-hot-bytes", "1")
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	client, err := azservicebus.NewClientFromConnectionString(connStr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(context.Background())
	recv, err := client.NewReceiverForQueue("work", nil)
	if err != nil {
		t.Fatal(err)
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		msgs, err := recv.ReceiveMessages(ctx, 500, nil)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("draining: %v", err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			l.add(func(l *ledger) { l.delivered(m) })
			if err := recv.CompleteMessage(context.Background(), m, nil); err != nil {
				t.Fatalf("completing %s while draining: %v", m.MessageID, err)
			}
			l.add(func(l *ledger) { l.completed[m.MessageID]++ })
		}
	}
	// Lost: acknowledged and never delivered. A message delivered whose
	// completion was cut by a kill may be gone without an acknowledged
	// completion: the completion reached the log, its answer did not.
	lost, twice := 0, 0
	for id := range l.acked {
		if !l.seen[id] {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged send %s was never received", id)
			}
		}
	}
	completions := 0
	for id, n := range l.completed {
		completions += n
		if n > 1 {
			twice++
			if twice <= 5 {
				t.Errorf("message %s completed %d times", id, n)
			}
		}
	}
	t.Logf("emulator crash test: %d kill -9, %d producers, %d consumers, %d compactions while running: sent %d, acknowledged %d, received %d, completed %d (%d ids); lost %d, completed twice %d",
		p.kills, p.producers, p.consumers, strings.Count(logs.String(), "write-ahead log compacted"), l.sent, len(l.acked), l.received, completions, len(l.completed), lost, twice)
	if l.wrongBody > 0 {
		t.Errorf("%d deliveries had a body other than the one sent", l.wrongBody)
	}
	if len(l.acked) == 0 || completions == 0 {
		t.Fatal("nothing was acknowledged: the test measured nothing")
	}
}

func produce(ctx context.Context, client *azservicebus.Client, l *ledger, prefix string) {
	sender, err := client.NewSender("work", nil)
	if err != nil {
		return
	}
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		l.add(func(l *ledger) { l.sent++ })
		if err := sender.SendMessage(ctx, &azservicebus.Message{MessageID: &id, Body: []byte(id)}, nil); err != nil {
			return // the emulator is gone: an unacknowledged send may or may not be stored
		}
		l.add(func(l *ledger) { l.acked[id] = true })
	}
}

func consume(ctx context.Context, client *azservicebus.Client, l *ledger) {
	recv, err := client.NewReceiverForQueue("work", nil)
	if err != nil {
		return
	}
	for ctx.Err() == nil {
		msgs, err := recv.ReceiveMessages(ctx, 20, nil)
		if err != nil {
			return
		}
		for _, m := range msgs {
			l.add(func(l *ledger) { l.delivered(m) })
			if err := recv.CompleteMessage(ctx, m, nil); err != nil {
				return // not acknowledged: the message may come back
			}
			l.add(func(l *ledger) { l.completed[m.MessageID]++ })
		}
	}
}

// TestSIGKILLLosesNoAcknowledgedSendOrCompletion runs a short crash plan
// (the chaos build runs a long one, crash_chaos_test.go).
func TestSIGKILLLosesNoAcknowledgedSendOrCompletion(t *testing.T) {
	t.Parallel()
	runCrashPlan(t, crashPlan{kills: 2, producers: 2, consumers: 2, round: 1200 * time.Millisecond}) // a compaction each round
}

package broker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// Receivers, peeking and concurrency. Uses setup from broker_test.go.

func TestPeek(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	for i := range 6 {
		bd.send(t, "q", msg(fmt.Sprint(i+1)))
	}
	got := bd.receive(t, "q", broker.PeekLock, 3) // 1, 2, 3 locked
	must(t, bd.b.Complete("q", got[1].LockToken)) // gap at 2
	must(t, bd.b.Defer("q", got[2].LockToken, nil))
	tests := []struct {
		from  int64
		count int
		want  string
	}{
		{1, 10, "[1 3 4 5 6]"},
		{2, 2, "[3 4]"},
		{6, 10, "[6]"},
		{7, 10, "[]"},
		{1, 0, "[]"},
	}
	for _, tt := range tests {
		p, err := bd.b.Peek("q", tt.from, tt.count)
		must(t, err)
		var seqs []int64
		for _, m := range p {
			seqs = append(seqs, m.SequenceNumber)
			if m.LockToken != uuid.Nil {
				t.Errorf("peek leaked lock token of %d", m.SequenceNumber)
			}
		}
		if fmt.Sprint(seqs) != tt.want && !(tt.want == "[]" && len(seqs) == 0) {
			t.Errorf("Peek(%d, %d) = %v, want %s", tt.from, tt.count, seqs, tt.want)
		}
	}
	p, _ := bd.b.Peek("q", 3, 1)
	if p[0].State != broker.StateDeferred {
		t.Errorf("state %v, want deferred", p[0].State)
	}
	// Peek does not lock: message 4 is still receivable.
	if m := bd.one(t, "q"); m.SequenceNumber != 4 {
		t.Errorf("next seq %d, want 4", m.SequenceNumber)
	}
}

func TestReceiveAndDelete(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	bd.send(t, "q", msg("a"), msg("b"))
	got := bd.receive(t, "q", broker.ReceiveAndDelete, 1)
	if len(got) != 1 || got[0].LockToken != uuid.Nil || !got[0].LockedUntil.IsZero() {
		t.Fatalf("got %+v", got)
	}
	if p, _ := bd.b.Peek("q", 1, 10); len(p) != 1 || p[0].SequenceNumber != 2 {
		t.Fatalf("peek after RAD: %v", p)
	}
}

func TestUnreceive(t *testing.T) {
	t.Parallel()
	for _, mode := range []broker.ReceiveMode{broker.PeekLock, broker.ReceiveAndDelete} {
		t.Run(fmt.Sprint("mode=", mode), func(t *testing.T) {
			t.Parallel()
			bd := setup(t)
			bd.send(t, "q", msg("a"), msg("b"))
			r, err := bd.b.NewReceiver("q", mode)
			must(t, err)
			got, err := r.TryReceive(2)
			must(t, err)
			r.Unreceive(got)
			r.Close()
			again := bd.receive(t, "q", broker.PeekLock, 5)
			if len(again) != 2 || again[0].SequenceNumber != 1 || again[0].DeliveryCount != 0 {
				t.Fatalf("after unreceive: %d messages", len(again))
			}
		})
	}
}

func TestCloseKeepsLocks(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	bd.send(t, "q", msg("a"))
	r, err := bd.b.NewReceiver("q", broker.PeekLock)
	must(t, err)
	got, err := r.TryReceive(1)
	must(t, err)
	r.Close()
	r.Close()
	_, err = r.TryReceive(1)
	wantErr(t, err, broker.ErrClosed)
	bd.none(t, "q") // still locked by the entity
	must(t, bd.b.Complete("Q", got[0].LockToken))
}

func TestDeliveriesAreCopies(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	in := msg("a")
	in.Properties.UserID = []byte("u")
	in.Properties.Present = broker.PropUserID
	bd.send(t, "q", in)
	in.ApplicationProperties["k"] = "changed by sender"
	in.Properties.UserID[0] = 'X'
	m := bd.one(t, "q")
	m.ApplicationProperties["k"] = "changed by receiver"
	m.DeliveryCount = 99
	must(t, bd.b.Abandon("q", m.LockToken, nil))
	again := bd.one(t, "q")
	if again.ApplicationProperties["k"] != "v" || again.DeliveryCount != 1 || string(again.Properties.UserID) != "u" {
		t.Errorf("broker state was shared: %v count %d user %q", again.ApplicationProperties, again.DeliveryCount, again.Properties.UserID)
	}
}

func TestReceiveBlocksUntilSend(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	r, err := bd.b.NewReceiver("q", broker.PeekLock)
	must(t, err)
	done := make(chan []*broker.Message)
	go func() {
		msgs, err := r.Receive(context.Background(), 5)
		if err != nil {
			t.Error(err)
		}
		done <- msgs
	}()
	bd.send(t, "q", msg("a"))
	select {
	case msgs := <-done:
		if len(msgs) != 1 || string(msgs[0].Body) != "a" {
			t.Errorf("got %d messages", len(msgs))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Receive did not wake up")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.Receive(ctx, 1)
	wantErr(t, err, context.Canceled)
	bd.b.Stop()
	bd.b.Stop()
	_, err = r.Receive(context.Background(), 1)
	wantErr(t, err, broker.ErrStopped)
}

func TestConcurrentSendReceiveComplete(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	const senders, perSender, receivers = 4, 500, 4
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range perSender {
				if _, err := bd.b.Send("q", []*broker.Message{msg(fmt.Sprint(s, i))}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var mu sync.Mutex
	seen := map[int64]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range receivers {
		wg.Go(func() {
			r, err := bd.b.NewReceiver("q", broker.PeekLock)
			if err != nil {
				t.Error(err)
				return
			}
			defer r.Close()
			for {
				mu.Lock()
				n := len(seen)
				mu.Unlock()
				if n == senders*perSender {
					return
				}
				rctx, rcancel := context.WithTimeout(ctx, 50*time.Millisecond)
				msgs, err := r.Receive(rctx, 16)
				rcancel()
				if err != nil && ctx.Err() != nil {
					t.Error(err)
					return
				}
				for _, m := range msgs {
					if err := bd.b.Complete("q", m.LockToken); err != nil {
						t.Error(err)
					}
					mu.Lock()
					if seen[m.SequenceNumber] {
						t.Errorf("seq %d received twice", m.SequenceNumber)
					}
					seen[m.SequenceNumber] = true
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != senders*perSender {
		t.Fatalf("received %d, want %d", len(seen), senders*perSender)
	}
	if st, _ := bd.b.Stats("q"); st.Total() != 0 {
		t.Errorf("left over: %+v", st)
	}
}

func TestLargeBacklogKeepsSequenceOrder(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	const n = 6000
	batch := make([]*broker.Message, 1000)
	for i := range batch {
		batch[i] = msg("x")
	}
	for range n / len(batch) {
		bd.send(t, "q", batch...)
	}
	r, err := bd.b.NewReceiver("q", broker.PeekLock)
	must(t, err)
	// Take the first half, give every third back: those must come out
	// first again, in order, before the untouched second half.
	first, err := r.TryReceive(n / 2)
	must(t, err)
	var back []int64
	for i, m := range first {
		if i%3 == 0 {
			must(t, bd.b.Release("q", m.LockToken))
			back = append(back, m.SequenceNumber)
		} else {
			must(t, bd.b.Complete("q", m.LockToken))
		}
	}
	p, err := bd.b.Peek("q", n/2-10, 20)
	must(t, err)
	// Present from 2990 on: released ones of the first half (seq-1 divisible
	// by 3: 2992, 2995, 2998), then everything from 3001.
	if len(p) != 20 || p[0].SequenceNumber != 2992 || p[2].SequenceNumber != 2998 || p[3].SequenceNumber != 3001 || p[19].SequenceNumber != 3017 {
		t.Fatalf("peek around the middle: %d messages from %d", len(p), p[0].SequenceNumber)
	}
	var last int64
	got := 0
	for {
		msgs, err := r.TryReceive(777)
		must(t, err)
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			if m.SequenceNumber <= last {
				t.Fatalf("seq %d after %d", m.SequenceNumber, last)
			}
			if got < len(back) && m.SequenceNumber != back[got] {
				t.Fatalf("message %d: seq %d, want released %d", got, m.SequenceNumber, back[got])
			}
			last = m.SequenceNumber
			got++
		}
	}
	if want := len(back) + n/2; got != want {
		t.Fatalf("received %d, want %d", got, want)
	}
}

func TestUnreceiveAfterDelete(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	bd.send(t, "q", msg("a"))
	r, err := bd.b.NewReceiver("q", broker.ReceiveAndDelete)
	must(t, err)
	got, err := r.TryReceive(1)
	must(t, err)
	must(t, bd.b.Delete("q"))
	r.Unreceive(got) // nowhere to go back to: must not panic or resurrect
	_, err = bd.b.Resolve("q")
	wantErr(t, err, broker.ErrNotFound)
}

package broker_test

import (
	"testing"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// BenchmarkSendReceiveComplete measures one 1 KiB message through Send,
// PeekLock TryReceive and Complete, with a standing backlog of 100k.
func BenchmarkSendReceiveComplete(b *testing.B) {
	br := broker.New(broker.Config{})
	defer br.Stop()
	if err := br.CreateQueue(broker.QueueConfig{Name: "q"}); err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1024)
	batch := make([]*broker.Message, 1000)
	for i := range batch {
		batch[i] = &broker.Message{Body: body, ApplicationProperties: map[string]any{"n": i}}
	}
	for range 100 {
		if _, err := br.Send("q", batch); err != nil {
			b.Fatal(err)
		}
	}
	r, err := br.NewReceiver("q", broker.PeekLock)
	if err != nil {
		b.Fatal(err)
	}
	one := batch[:1]
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Send("q", one); err != nil {
			b.Fatal(err)
		}
		msgs, err := r.TryReceive(1)
		if err != nil || len(msgs) != 1 {
			b.Fatal(err, len(msgs))
		}
		if err := br.Complete("q", msgs[0].LockToken); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendReceiveCompleteParallel runs the same cycle from several
// goroutines on one queue.
func BenchmarkSendReceiveCompleteParallel(b *testing.B) {
	br := broker.New(broker.Config{})
	defer br.Stop()
	if err := br.CreateQueue(broker.QueueConfig{Name: "q"}); err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r, err := br.NewReceiver("q", broker.PeekLock)
		if err != nil {
			b.Fatal(err)
		}
		one := []*broker.Message{{Body: body}}
		for pb.Next() {
			if _, err := br.Send("q", one); err != nil {
				b.Fatal(err)
			}
			msgs, err := r.TryReceive(1)
			if err != nil {
				b.Fatal(err)
			}
			for _, m := range msgs {
				if err := br.Complete("q", m.LockToken); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

package broker_test

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/clock"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// FuzzRecoveryApply feeds arbitrary records to a recovery: it must refuse
// or apply each without panicking, and Finish and Snapshot must work after.
func FuzzRecoveryApply(f *testing.F) {
	c := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	j := &memJournal{}
	b := broker.New(broker.Config{Clock: c, Journal: j})
	if err := b.CreateQueue(broker.QueueConfig{Name: "q"}); err != nil {
		f.Fatal(err)
	}
	if err := b.CreateTopic(broker.TopicConfig{Name: "t"}); err != nil {
		f.Fatal(err)
	}
	if err := b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s"}); err != nil {
		f.Fatal(err)
	}
	m := idMsg("seed")
	m.Properties.GroupID, m.Properties.Present = "g", m.Properties.Present|broker.PropGroupID
	if _, err := b.Send("q", []*broker.Message{m}); err != nil {
		f.Fatal(err)
	}
	if _, err := b.Send("t", []*broker.Message{idMsg("fan")}); err != nil {
		f.Fatal(err)
	}
	if err := b.Delete("t/Subscriptions/s"); err != nil {
		f.Fatal(err)
	}
	b.Stop()
	for _, rec := range j.records() {
		f.Add(rec)
	}
	f.Add([]byte{0x45}) // an empty list
	f.Fuzz(func(t *testing.T, rec []byte) {
		b := broker.New(broker.Config{Clock: c, Journal: &memJournal{}})
		defer b.Stop()
		if err := b.CreateQueue(broker.QueueConfig{Name: "q"}); err != nil {
			t.Fatal(err)
		}
		r := b.NewRecovery()
		_ = r.Apply(rec)
		r.Finish()
		if err := b.Snapshot(func([]byte) error { return nil }); err != nil {
			t.Fatalf("Snapshot after applying %x: %v", rec, err)
		}
	})
}

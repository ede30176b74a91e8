package broker_test

import (
	"errors"
	"testing"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// sized is a message that counts size bytes against its entity's quota.
func sized(size int32) *broker.Message { return &broker.Message{Body: []byte("x"), Size: size} }

func TestQueueQuotaRefusesAndRecovers(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "small", MaxSizeInMegabytes: 1}))
	const third = 340 << 10
	bd.send(t, "small", sized(third), sized(third))
	// All or nothing: a batch that does not fit stores none of its messages.
	if _, err := bd.b.Send("small", []*broker.Message{sized(third), sized(third)}); !errors.Is(err, broker.ErrQuotaExceeded) {
		t.Fatalf("batch beyond the quota: err = %v, want ErrQuotaExceeded", err)
	}
	bd.send(t, "small", sized(third), sized(4<<10)) // exactly 1 MiB
	if _, err := bd.b.Send("small", []*broker.Message{sized(1)}); !errors.Is(err, broker.ErrQuotaExceeded) {
		t.Fatalf("send to a full queue: err = %v, want ErrQuotaExceeded", err)
	}
	// Dead-lettered messages still count; completed ones free their space.
	got := bd.receive(t, "small", broker.PeekLock, 2)
	must(t, bd.b.DeadLetter("small", got[0].LockToken, "r", "d", nil))
	if _, err := bd.b.Send("small", []*broker.Message{sized(1)}); !errors.Is(err, broker.ErrQuotaExceeded) {
		t.Fatalf("dead-lettering freed space: err = %v", err)
	}
	must(t, bd.b.Complete("small", got[1].LockToken))
	bd.send(t, "small", sized(third))
}

func TestTopicQuotaCountsEverySubscriptionCopy(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateTopic(broker.TopicConfig{Name: "tq", MaxSizeInMegabytes: 1}))
	must(t, bd.b.CreateSubscription("tq", broker.SubscriptionConfig{Name: "a"}))
	must(t, bd.b.CreateSubscription("tq", broker.SubscriptionConfig{Name: "b"}))
	bd.send(t, "tq", sized(300<<10)) // two copies: 600 KiB
	if _, err := bd.b.Send("tq", []*broker.Message{sized(500 << 10)}); !errors.Is(err, broker.ErrQuotaExceeded) {
		t.Fatalf("err = %v, want ErrQuotaExceeded", err)
	}
	must(t, bd.b.Delete("tq/Subscriptions/b"))
	bd.send(t, "tq", sized(500<<10)) // b's copy no longer counts
}

func TestQuotaRejectsNegativeSize(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	if err := bd.b.CreateQueue(broker.QueueConfig{Name: "neg", MaxSizeInMegabytes: -1}); !errors.Is(err, broker.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}

// Update* apply a changed MaxSizeInMegabytes to the live quota, counting what the entity
// already holds, and the settings report the effective limit (0 means the default).
func TestUpdateChangesLiveQuota(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "grow", MaxSizeInMegabytes: 1}))
	must(t, bd.b.CreateTopic(broker.TopicConfig{Name: "tgrow", MaxSizeInMegabytes: 1}))
	must(t, bd.b.CreateSubscription("tgrow", broker.SubscriptionConfig{Name: "s"}))
	for _, name := range []string{"grow", "tgrow"} {
		bd.send(t, name, sized(900<<10))
		if _, err := bd.b.Send(name, []*broker.Message{sized(200 << 10)}); !errors.Is(err, broker.ErrQuotaExceeded) {
			t.Fatalf("%s at 1 MB: err = %v, want ErrQuotaExceeded", name, err)
		}
	}
	must(t, bd.b.UpdateQueue(broker.QueueConfig{Name: "grow", MaxSizeInMegabytes: 2}))
	must(t, bd.b.UpdateTopic(broker.TopicConfig{Name: "tgrow", MaxSizeInMegabytes: 2}))
	for _, name := range []string{"grow", "tgrow"} {
		bd.send(t, name, sized(200<<10)) // fits under 2 MB
	}
	qs, err := bd.b.QueueSettings("grow")
	must(t, err)
	ts, err := bd.b.TopicSettings("tgrow")
	must(t, err)
	if qs.MaxSizeInMegabytes != 2 || ts.MaxSizeInMegabytes != 2 {
		t.Fatalf("settings report %d / %d MB, want 2", qs.MaxSizeInMegabytes, ts.MaxSizeInMegabytes)
	}
	// Shrinking below what is held keeps the messages and refuses new ones.
	must(t, bd.b.UpdateQueue(broker.QueueConfig{Name: "grow", MaxSizeInMegabytes: 1}))
	if _, err := bd.b.Send("grow", []*broker.Message{sized(1)}); !errors.Is(err, broker.ErrQuotaExceeded) {
		t.Fatalf("after shrinking: err = %v, want ErrQuotaExceeded", err)
	}
	must(t, bd.b.UpdateQueue(broker.QueueConfig{Name: "grow"}))
	if qs, _ := bd.b.QueueSettings("grow"); qs.MaxSizeInMegabytes != broker.DefaultMaxSizeInMegabytes {
		t.Fatalf("zero means the default: got %d MB", qs.MaxSizeInMegabytes)
	}
	if err := bd.b.UpdateTopic(broker.TopicConfig{Name: "tgrow", MaxSizeInMegabytes: -1}); !errors.Is(err, broker.ErrInvalid) {
		t.Fatalf("negative size: err = %v, want ErrInvalid", err)
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/emulator/servicebus"
)

// throughputParams are shared by both sides of the broker comparison.
type throughputParams struct {
	Messages  int // messages passed through
	Size      int // body bytes
	Batch     int // messages per send batch / receive call
	Settlers  int // concurrent Complete calls on the Service Bus side
	Prefetch  int // RabbitMQ consumer prefetch
	Transient bool
}

// emulatorThroughput runs batch send + peek-lock receive + complete through
// the azservicebus SDK against an in-process emulator and returns messages/s.
// With dataDir, the emulator runs in durable mode (write-ahead log there).
func emulatorThroughput(ctx context.Context, p throughputParams, dataDir string, hotBytes int64) (float64, error) {
	srv, err := servicebus.Start(ctx, servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", DataDir: dataDir, HotBytes: hotBytes})
	if err != nil {
		return 0, fmt.Errorf("starting emulator: %w", err)
	}
	defer srv.Stop(context.WithoutCancel(ctx))
	queue := "bench-" + uuid.NewString()[:8]
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: queue, LockDuration: time.Minute, MaxDeliveryCount: 10}); err != nil {
		return 0, err
	}
	return serviceBusThroughput(ctx, srv.ConnectionString(), queue, p)
}

// serviceBusThroughput measures one pass of p.Messages through queue.
func serviceBusThroughput(ctx context.Context, connStr, queue string, p throughputParams) (float64, error) {
	client, err := azservicebus.NewClientFromConnectionString(connStr, nil)
	if err != nil {
		return 0, err
	}
	defer client.Close(context.WithoutCancel(ctx))
	sender, err := client.NewSender(queue, nil)
	if err != nil {
		return 0, err
	}
	receiver, err := client.NewReceiverForQueue(queue, nil)
	if err != nil {
		return 0, err
	}
	body := make([]byte, p.Size)
	start := time.Now()
	sendErr := make(chan error, 1)
	go func() {
		for sent := 0; sent < p.Messages; {
			batch, err := sender.NewMessageBatch(ctx, nil)
			if err != nil {
				sendErr <- err
				return
			}
			for i := 0; i < p.Batch && sent < p.Messages; i++ {
				if err := batch.AddMessage(&azservicebus.Message{Body: body}, nil); err != nil {
					if errors.Is(err, azservicebus.ErrMessageTooLarge) {
						break
					}
					sendErr <- err
					return
				}
				sent++
			}
			if err := sender.SendMessageBatch(ctx, batch, nil); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()

	work := make(chan *azservicebus.ReceivedMessage, p.Batch*2)
	var settled atomic.Int64
	var settleErr error
	var once sync.Once
	var wg sync.WaitGroup
	for i := 0; i < p.Settlers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range work {
				if err := receiver.CompleteMessage(ctx, m, nil); err != nil {
					once.Do(func() { settleErr = err })
				}
				settled.Add(1)
			}
		}()
	}
	received := 0
	for received < p.Messages {
		msgs, err := receiver.ReceiveMessages(ctx, p.Batch, nil)
		if err != nil {
			close(work)
			wg.Wait()
			return 0, fmt.Errorf("receiving after %d: %w", received, err)
		}
		for _, m := range msgs {
			work <- m
		}
		received += len(msgs)
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	if err := <-sendErr; err != nil {
		return 0, fmt.Errorf("sending: %w", err)
	}
	if settleErr != nil {
		return 0, fmt.Errorf("completing: %w", settleErr)
	}
	return float64(settled.Load()) / elapsed.Seconds(), nil
}

// rabbitThroughput does the RabbitMQ equivalent with amqp091-go: publishes
// in batches with publisher confirms (persistent messages on a durable queue
// unless p.Transient) and consumes with manual acks.
func rabbitThroughput(ctx context.Context, url string, p throughputParams) (float64, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return 0, fmt.Errorf("connecting to RabbitMQ: %w", err)
	}
	defer conn.Close()
	pubCh, err := conn.Channel()
	if err != nil {
		return 0, err
	}
	queue := "bench-" + uuid.NewString()[:8]
	if _, err := pubCh.QueueDeclare(queue, !p.Transient, false, false, false, nil); err != nil {
		return 0, err
	}
	defer func() {
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(queue, false, false, false)
		}
	}()
	if err := pubCh.Confirm(false); err != nil {
		return 0, err
	}
	subConn, err := amqp.Dial(url)
	if err != nil {
		return 0, err
	}
	defer subConn.Close()
	subCh, err := subConn.Channel()
	if err != nil {
		return 0, err
	}
	if err := subCh.Qos(p.Prefetch, 0, false); err != nil {
		return 0, err
	}
	deliveries, err := subCh.ConsumeWithContext(ctx, queue, "", false, false, false, false, nil)
	if err != nil {
		return 0, err
	}
	mode := amqp.Persistent
	if p.Transient {
		mode = amqp.Transient
	}
	body := make([]byte, p.Size)
	start := time.Now()
	sendErr := make(chan error, 1)
	go func() {
		for sent := 0; sent < p.Messages; {
			var confs []*amqp.DeferredConfirmation
			for i := 0; i < p.Batch && sent < p.Messages; i++ {
				c, err := pubCh.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false,
					amqp.Publishing{DeliveryMode: mode, Body: body})
				if err != nil {
					sendErr <- err
					return
				}
				confs = append(confs, c)
				sent++
			}
			for _, c := range confs {
				if ok, err := c.WaitContext(ctx); err != nil || !ok {
					sendErr <- fmt.Errorf("publish not confirmed: %v", err)
					return
				}
			}
		}
		sendErr <- nil
	}()
	for acked := 0; acked < p.Messages; acked++ {
		select {
		case d, ok := <-deliveries:
			if !ok {
				return 0, errors.New("RabbitMQ consumer closed")
			}
			if err := d.Ack(false); err != nil {
				return 0, err
			}
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	elapsed := time.Since(start)
	if err := <-sendErr; err != nil {
		return 0, fmt.Errorf("publishing: %w", err)
	}
	return float64(p.Messages) / elapsed.Seconds(), nil
}

// brokerThroughput compares the emulator with RabbitMQ, persistent and
// transient. The emulator keeps messages in memory in both variants.
func brokerThroughput(ctx context.Context, cfg runConfig) ([]Result, error) {
	var out []Result
	for _, transient := range []bool{false, true} {
		p := throughputParams{Messages: cfg.messages, Size: 1024, Batch: 100, Settlers: 32, Prefetch: 200, Transient: transient}
		ours, err := emulatorThroughput(ctx, p, "", 0)
		if err != nil {
			return nil, fmt.Errorf("emulator: %w", err)
		}
		theirs, err := rabbitThroughput(ctx, cfg.rabbitURL, p)
		if err != nil {
			return nil, fmt.Errorf("rabbitmq: %w", err)
		}
		if !transient {
			rs, err := durableThroughput(ctx, p, ours, theirs)
			if err != nil {
				return nil, err
			}
			out = append(out, rs...)
		}
		name, baseline := "emulator-throughput-persistent", "RabbitMQ durable queue, persistent, confirms, manual ack"
		if transient {
			name, baseline = "emulator-throughput-transient", "RabbitMQ transient queue, confirms, manual ack"
		}
		r := newResult(name, "send+receive+complete", "msg/s", ours, theirs, true)
		r.BaselineName = baseline
		r.Target = "≥ 1.0× RabbitMQ"
		r.Params = map[string]any{"messages": p.Messages, "bytes": p.Size, "batch": p.Batch,
			"sdkConcurrentCompletes": p.Settlers, "rabbitPrefetch": p.Prefetch, "client": "azservicebus v1.11.0 / amqp091-go v1.16.0"}
		out = append(out, r)
	}
	return out, nil
}

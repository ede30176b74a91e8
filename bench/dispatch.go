package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/emulator/funchost"
	"github.com/orderflow/orderflow/emulator/servicebus"
)

// Host dispatch overhead: the local host delivering queue messages to a
// no-op custom handler (bench/testdata/noop) against a plain consumer of
// the same kind of queue with the same client library and concurrency.
// Every message body is its send time; both sides report send→handled
// latency. Throughput is measured with the publisher running flat out
// (messages/s from first send to last handled), latency at a fixed
// moderate rate.

const (
	dispatchRate       = 200 // messages/s of the latency pass
	dispatchPrefetch   = 30  // RabbitMQ prefetch, host.json and plain consumer
	dispatchMaxCalls   = 16  // Service Bus maxConcurrentCalls, host.json and plain consumer
	dispatchLatencyFor = 3 * time.Second
)

// dispatchQueue is one queue of one broker, with what the plain consumer
// and the publisher need.
type dispatchQueue interface {
	// publish sends n messages, at rate per second (0: flat out).
	publish(ctx context.Context, n int, rate float64) error
	// consume runs the plain consumer until ctx ends, calling seen with
	// each message's latency before settling it.
	consume(ctx context.Context, seen func(time.Duration)) error
	// function is the function.json of the host's trigger on the queue and
	// the settings it needs.
	function() (map[string]any, map[string]string)
	close()
}

func dispatch(ctx context.Context, cfg runConfig) ([]Result, error) {
	var out []Result
	for _, broker := range []string{"rabbitmq", "servicebus"} {
		rs, err := dispatchOn(ctx, cfg, broker)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", broker, err)
		}
		out = append(out, rs...)
	}
	return out, nil
}

// dispatchPass is one side's figures.
type dispatchPass struct {
	rate     float64
	p50, p99 time.Duration
}

func dispatchOn(ctx context.Context, cfg runConfig, broker string) ([]Result, error) {
	newQueue := func() (dispatchQueue, error) { return newRabbitDispatchQueue(ctx, cfg.rabbitURL) }
	if broker == "servicebus" {
		emu, err := servicebus.Start(ctx, servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-"})
		if err != nil {
			return nil, err
		}
		defer emu.Stop(context.WithoutCancel(ctx))
		newQueue = func() (dispatchQueue, error) { return newSBDispatchQueue(emu) }
	}

	log.Printf("  %s: plain consumer", broker)
	q, err := newQueue()
	if err != nil {
		return nil, err
	}
	plain, err := measureDispatch(ctx, cfg, q, func(ctx context.Context, seen func(time.Duration)) (func(), error) {
		cctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { errc <- q.consume(cctx, seen) }()
		return func() { cancel(); <-errc }, nil
	})
	q.close()
	if err != nil {
		return nil, fmt.Errorf("plain consumer: %w", err)
	}

	log.Printf("  %s: local host + no-op handler", broker)
	if q, err = newQueue(); err != nil {
		return nil, err
	}
	defer q.close()
	var host dispatchPass
	err = profiled(cfg, "dispatch-"+broker, nil, func() error {
		var err error
		host, err = measureDispatch(ctx, cfg, q, func(ctx context.Context, seen func(time.Duration)) (func(), error) {
			return startDispatchHost(ctx, cfg, q, seen)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}

	params := map[string]any{"messages": cfg.dispatchN, "latencyRate": dispatchRate, "latencySeconds": dispatchLatencyFor.Seconds()}
	if broker == "rabbitmq" {
		params["prefetch"] = dispatchPrefetch
		params["consumer"] = "amqp091-go, manual ack, one message at a time (as the host's trigger)"
	} else {
		params["maxConcurrentCalls"] = dispatchMaxCalls
		params["consumer"] = fmt.Sprintf("azservicebus peek-lock, %d concurrent handlers, complete", dispatchMaxCalls)
	}
	base := "plain " + broker + " consumer"
	name := "dispatch-" + broker
	r1 := newResult(name+"-throughput", "queue → handler invocations/s", "msg/s", host.rate, plain.rate, true)
	r1.BaselineName, r1.Params = base, params
	r2 := newResult(name+"-latency-p50", "send → handled latency p50", "ms", ms(host.p50), ms(plain.p50), false)
	r2.BaselineName, r2.Params = base, params
	r3 := newResult(name+"-overhead-p50", "added latency of host dispatch, p50 (host − plain)", "ms", ms(host.p50-plain.p50), 0, false)
	r3.Target, r3.Params = "≤ 1 ms", params
	r4 := newResult(name+"-latency-p99", "send → handled latency p99", "ms", ms(host.p99), ms(plain.p99), false)
	r4.BaselineName, r4.Params = base, params
	return []Result{r1, r2, r3, r4}, nil
}

// measureDispatch starts a consumer with start, then runs the throughput
// pass (cfg.dispatchN messages flat out) and the latency pass.
func measureDispatch(ctx context.Context, cfg runConfig, q dispatchQueue,
	start func(context.Context, func(time.Duration)) (func(), error)) (dispatchPass, error) {
	var (
		mu   sync.Mutex
		lats []time.Duration
		last time.Time
		gate = make(chan struct{}, 1)
		want int
	)
	seen := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		lats = append(lats, d)
		last = time.Now()
		if len(lats) == want {
			select {
			case gate <- struct{}{}:
			default:
			}
		}
	}
	wait := func(n int, limit time.Duration) error {
		mu.Lock()
		want = n
		done := len(lats) >= n
		mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-gate:
			return nil
		case <-time.After(limit):
			mu.Lock()
			defer mu.Unlock()
			return fmt.Errorf("%d of %d messages handled after %s", len(lats), n, limit)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	stop, err := start(ctx, seen)
	if err != nil {
		return dispatchPass{}, err
	}
	defer stop()
	// Warm-up: connections, links and the handler's first requests.
	if err := q.publish(ctx, 200, 0); err != nil {
		return dispatchPass{}, err
	}
	if err := wait(200, time.Minute); err != nil {
		return dispatchPass{}, fmt.Errorf("warm-up: %w", err)
	}

	t0 := time.Now()
	if err := q.publish(ctx, cfg.dispatchN, 0); err != nil {
		return dispatchPass{}, err
	}
	if err := wait(200+cfg.dispatchN, 2*time.Minute); err != nil {
		return dispatchPass{}, err
	}
	mu.Lock()
	p := dispatchPass{rate: float64(cfg.dispatchN) / last.Sub(t0).Seconds()}
	mu.Unlock()

	n := int(dispatchRate * dispatchLatencyFor.Seconds())
	if err := q.publish(ctx, n, dispatchRate); err != nil {
		return dispatchPass{}, err
	}
	if err := wait(200+cfg.dispatchN+n, time.Minute); err != nil {
		return dispatchPass{}, err
	}
	mu.Lock()
	paced := append([]time.Duration(nil), lats[200+cfg.dispatchN:]...)
	mu.Unlock()
	p.p50, p.p99 = percentile(paced, 50), percentile(paced, 99)
	return p, nil
}

// startDispatchHost stages a one-function app around the no-op handler
// and starts the local host on it; the handler reports latencies over TCP.
func startDispatchHost(ctx context.Context, cfg runConfig, q dispatchQueue, seen func(time.Duration)) (func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var b [8]byte
				for {
					if _, err := io.ReadFull(c, b[:]); err != nil {
						return
					}
					seen(time.Duration(binary.BigEndian.Uint64(b[:])))
				}
			}()
		}
	}()
	dir, err := os.MkdirTemp("", "bench-dispatch")
	if err != nil {
		ln.Close()
		return nil, err
	}
	fn, settings := q.function()
	settings["BENCH_REPORT_ADDR"] = ln.Addr().String()
	files := map[string]any{
		"host.json": map[string]any{"version": "2.0",
			"customHandler": map[string]any{"description": map[string]any{"defaultExecutablePath": cfg.noopBin}},
			"extensions": map[string]any{
				"rabbitMQ":   map[string]any{"prefetchCount": dispatchPrefetch},
				"serviceBus": map[string]any{"maxConcurrentCalls": dispatchMaxCalls, "autoCompleteMessages": true},
			}},
		"Dispatch/function.json": fn,
	}
	for name, v := range files {
		p := filepath.Join(dir, name)
		b, _ := json.Marshal(v)
		err := os.MkdirAll(filepath.Dir(p), 0o755)
		if err == nil {
			err = os.WriteFile(p, b, 0o644)
		}
		if err != nil {
			ln.Close()
			return nil, err
		}
	}
	hlog := &tail{max: 1 << 20}
	host, err := funchost.New(funchost.Config{AppDir: dir, Addr: "127.0.0.1:0", Settings: settings,
		Stdout: io.Discard, Stderr: hlog, Logger: slog.New(slog.NewTextHandler(hlog, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err == nil {
		err = host.Start(ctx)
	}
	stop := func() {
		if host != nil {
			_ = host.Stop(context.WithoutCancel(ctx))
		}
		ln.Close()
		os.RemoveAll(dir)
	}
	if err != nil {
		stop()
		return nil, fmt.Errorf("starting host: %w\n%s", err, hlog)
	}
	return stop, nil
}

func sentNow() []byte { return []byte(strconv.FormatInt(time.Now().UnixNano(), 10)) }

func latencyOf(body []byte) time.Duration {
	sent, _ := strconv.ParseInt(string(body), 10, 64)
	return time.Duration(time.Now().UnixNano() - sent)
}

// pace sleeps until message i of a run at rate per second is due.
func pace(start time.Time, i int, rate float64) {
	if rate > 0 {
		time.Sleep(time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
	}
}

// rabbitDispatchQueue is a durable queue in RabbitMQ's default vhost.
type rabbitDispatchQueue struct {
	url, name string
	conn      *amqp.Connection
	ch        *amqp.Channel
}

func newRabbitDispatchQueue(ctx context.Context, url string) (*rabbitDispatchQueue, error) {
	q := &rabbitDispatchQueue{url: url, name: "bench-dispatch-" + uuid.NewString()[:8]}
	var err error
	if q.conn, err = amqp.Dial(url); err != nil {
		return nil, fmt.Errorf("connecting to RabbitMQ: %w", err)
	}
	if q.ch, err = q.conn.Channel(); err == nil {
		_, err = q.ch.QueueDeclare(q.name, true, false, false, false, nil)
	}
	if err == nil {
		err = q.ch.Confirm(false)
	}
	if err != nil {
		q.conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *rabbitDispatchQueue) publish(ctx context.Context, n int, rate float64) error {
	start := time.Now()
	var confs []*amqp.DeferredConfirmation
	for i := range n {
		pace(start, i, rate)
		c, err := q.ch.PublishWithDeferredConfirmWithContext(ctx, "", q.name, false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "text/plain", Body: sentNow()})
		if err != nil {
			return err
		}
		confs = append(confs, c)
		if len(confs) == 100 || i == n-1 {
			for _, c := range confs {
				if ok, err := c.WaitContext(ctx); err != nil || !ok {
					return fmt.Errorf("publish not confirmed: %v", err)
				}
			}
			confs = confs[:0]
		}
	}
	return nil
}

func (q *rabbitDispatchQueue) consume(ctx context.Context, seen func(time.Duration)) error {
	conn, err := amqp.Dial(q.url)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Qos(dispatchPrefetch, 0, false); err != nil {
		return err
	}
	ds, err := ch.ConsumeWithContext(ctx, q.name, "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	for d := range ds {
		seen(latencyOf(d.Body))
		if err := d.Ack(false); err != nil {
			return err
		}
	}
	return nil
}

func (q *rabbitDispatchQueue) function() (map[string]any, map[string]string) {
	return map[string]any{"bindings": []map[string]any{{"type": "rabbitMQTrigger", "direction": "in", "name": "message",
		"queueName": q.name, "connectionStringSetting": "BenchRabbit", "dataType": "binary"}}}, map[string]string{"BenchRabbit": q.url}
}

func (q *rabbitDispatchQueue) close() {
	if ch, err := q.conn.Channel(); err == nil {
		_, _ = ch.QueueDelete(q.name, false, false, false)
	}
	q.conn.Close()
}

// sbDispatchQueue is a queue on the in-process emulator.
type sbDispatchQueue struct {
	emu    *servicebus.Server
	name   string
	client *azservicebus.Client
	sender *azservicebus.Sender
}

func newSBDispatchQueue(emu *servicebus.Server) (*sbDispatchQueue, error) {
	q := &sbDispatchQueue{emu: emu, name: "bench-dispatch-" + uuid.NewString()[:8]}
	if err := emu.CreateQueue(servicebus.QueueConfig{Name: q.name, LockDuration: time.Minute, MaxDeliveryCount: 10}); err != nil {
		return nil, err
	}
	var err error
	if q.client, err = azservicebus.NewClientFromConnectionString(emu.ConnectionString(), nil); err != nil {
		return nil, err
	}
	if q.sender, err = q.client.NewSender(q.name, nil); err != nil {
		return nil, err
	}
	return q, nil
}

func (q *sbDispatchQueue) publish(ctx context.Context, n int, rate float64) error {
	start := time.Now()
	if rate > 0 {
		for i := range n {
			pace(start, i, rate)
			if err := q.sender.SendMessage(ctx, &azservicebus.Message{Body: sentNow()}, nil); err != nil {
				return err
			}
		}
		return nil
	}
	for sent := 0; sent < n; {
		batch, err := q.sender.NewMessageBatch(ctx, nil)
		if err != nil {
			return err
		}
		for i := 0; i < 100 && sent < n; i++ {
			if err := batch.AddMessage(&azservicebus.Message{Body: sentNow()}, nil); err != nil {
				return err
			}
			sent++
		}
		if err := q.sender.SendMessageBatch(ctx, batch, nil); err != nil {
			return err
		}
	}
	return nil
}

// consume keeps up to dispatchMaxCalls messages in hand, like the host's
// receive loop: it asks for as many as there are free slots, notes and
// completes each on its own goroutine.
func (q *sbDispatchQueue) consume(ctx context.Context, seen func(time.Duration)) error {
	r, err := q.client.NewReceiverForQueue(q.name, nil)
	if err != nil {
		return err
	}
	defer r.Close(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, dispatchMaxCalls)
	for range dispatchMaxCalls {
		slots <- struct{}{}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-slots:
		}
		n := 1
	more:
		for n < dispatchMaxCalls {
			select {
			case <-slots:
				n++
			default:
				break more
			}
		}
		// Same receive options as the host's trigger, so the comparison
		// measures the host, not the SDK's batching wait.
		msgs, err := r.ReceiveMessages(ctx, n, &azservicebus.ReceiveMessagesOptions{TimeAfterFirstMessage: time.Millisecond})
		for range n - len(msgs) {
			slots <- struct{}{}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, m := range msgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { slots <- struct{}{} }()
				seen(latencyOf(m.Body))
				_ = r.CompleteMessage(context.WithoutCancel(ctx), m, nil)
			}()
		}
	}
}

func (q *sbDispatchQueue) function() (map[string]any, map[string]string) {
	return map[string]any{"bindings": []map[string]any{{"type": "serviceBusTrigger", "direction": "in", "name": "message",
		"queueName": q.name, "connection": "BenchServiceBus", "dataType": "binary"}}}, map[string]string{"BenchServiceBus": q.emu.ConnectionString()}
}

func (q *sbDispatchQueue) close() {
	_ = q.client.Close(context.Background())
}

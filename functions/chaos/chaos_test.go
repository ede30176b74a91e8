//go:build chaos

// Package chaos_test is the fault-injection suite (make chaos): with 2,000
// orders in flight it SIGKILLs handler processes and the local host,
// restarts RabbitMQ and PostgreSQL, and then proves from the database that
// nothing was lost, duplicated or left half-done.
//
// The faults are machine-wide (RabbitMQ and PostgreSQL restarts): run this
// package alone, never in parallel with other packages:
//
//	go test -tags chaos -count=1 -timeout 15m -v ./functions/chaos/
//
// CHAOS_PROCESS_FAULTS_ONLY=1 skips the RabbitMQ and PostgreSQL restarts
// (and their checks), for working on the suite on a machine whose services
// others are using.
package chaos_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/orderflow/orderflow/functions/apptest"
	"github.com/orderflow/orderflow/internal/testkit"
	"github.com/orderflow/orderflow/shared/deadletter"
)

func TestMain(m *testing.M) { apptest.Main(m) }

const (
	orders    = 2000
	clients   = 16
	placeRate = 50   // orders/s offered, so that placing spans every fault
	stock     = 1500 // fewer than the orders: some must be rejected
	instances = 2
)

// TestNothingLostUnderFaults runs the fault schedule on each broker, one
// broker after the other: the faults hit the whole machine.
func TestNothingLostUnderFaults(t *testing.T) {
	t.Parallel()
	t.Cleanup(func() { waitServicesHealthy(t) })
	for _, broker := range apptest.Brokers {
		// Not parallel: a PostgreSQL restart for one broker's run would be
		// a second, unplanned fault for the other's.
		t.Run(string(broker), func(t *testing.T) { run(t, broker) })
	}
}

// setup starts the app with the host as its own process and a product
// with limited stock.
func setup(t *testing.T, broker apptest.Broker) (*apptest.App, string, *shop) {
	t.Helper()
	a := apptest.Start(t, broker, apptest.Options{Instances: instances, HostProcess: true, Timeout: 8 * time.Minute})
	product := a.CreateProduct(t, stock)
	s := &shop{app: a, product: product, accepted: map[string]string{}}
	s.url.Store(a.URL)
	return a, product, s
}

func run(t *testing.T, broker apptest.Broker) {
	a, product, s := setup(t, broker)
	placed := make(chan struct{})
	go func() { defer close(placed); s.placeAll(t) }()

	step := func(what string, fn func()) {
		t.Logf("[%s] %s (accepted so far: %d)", broker, what, s.acceptedCount())
		fn()
	}
	pause := func(d time.Duration) {
		select {
		case <-time.After(d):
		case <-placed:
			t.Errorf("all orders were placed before the fault schedule ended; the faults did not hit orders in flight")
		}
	}
	pause(3 * time.Second)
	step("SIGKILL handler instance 0", func() { killHandler(t, a, 0) })
	pause(3 * time.Second)
	step("SIGKILL handler instance 1", func() { killHandler(t, a, 1) })
	pause(3 * time.Second)
	step("SIGKILL the local host, then restart it", func() { s.crashHost(t) })
	pause(3 * time.Second)
	servicesToo := os.Getenv("CHAOS_PROCESS_FAULTS_ONLY") != "1"
	if !servicesToo {
		t.Logf("[%s] CHAOS_PROCESS_FAULTS_ONLY=1: RabbitMQ and PostgreSQL are not restarted", broker)
	}
	if broker == apptest.RabbitMQ && servicesToo {
		step("restart RabbitMQ (stop_app, start_app)", func() { restartRabbitMQ(t) })
	} else {
		// The emulator runs in this process; its consumers' side is the
		// host: crash it again while the emulator holds their locks.
		step("SIGKILL the consumers' side (the host) again, then restart it", func() { s.crashHost(t) })
	}
	if servicesToo {
		pause(3 * time.Second)
		step("restart PostgreSQL", func() { s.restartPostgres(t) })
	}
	<-placed
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("[%s] all %d orders accepted; waiting for processing", broker, orders)
	waitSettled(t, a)
	check(t, a, broker, product, s, servicesToo)
}

// shop is the clients' side: it places orders with an Idempotency-Key
// each and retries every failure with the same key, as a careful client
// does.
type shop struct {
	app     *apptest.App
	product string
	url     atomic.Value // current host URL (the host moves when restarted)

	pgDown atomic.Bool // set while PostgreSQL restarts

	mu          sync.Mutex
	accepted    map[string]string // Idempotency-Key → order id
	retries     int
	unavailable int            // 503 answers
	duringPG    map[int]int    // status → count while PostgreSQL restarted
	slow503     []string       // 503s that took too long
	bad503      []string       // 503s without problem+json
	unexpected  map[string]int // other failures, by kind
}

func (s *shop) acceptedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.accepted)
}

// placeAll offers the orders at placeRate from clients goroutines and
// returns when every one was accepted.
func (s *shop) placeAll(t *testing.T) {
	s.duringPG, s.unexpected = map[int]int{}, map[string]int{}
	keys := make(chan int)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range keys {
				s.place(t, i)
			}
		}()
	}
	tick := time.NewTicker(time.Second / placeRate)
	defer tick.Stop()
	for i := range orders {
		<-tick.C
		keys <- i
	}
	close(keys)
	wg.Wait()
}

// place retries order i until it is accepted or the app's time is up.
func (s *shop) place(t *testing.T, i int) {
	key := fmt.Sprintf("chaos-%d", i)
	body := fmt.Sprintf(`{"customerName":"Chaos %d","customerEmail":"chaos-%d@example.com","items":[{"productId":%q,"quantity":1}]}`, i, i, s.product)
	for attempt := 0; s.app.Ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			s.mu.Lock()
			s.retries++
			s.mu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
		pg := s.pgDown.Load()
		req, _ := http.NewRequestWithContext(s.app.Ctx, http.MethodPost, s.url.Load().(string)+"/api/orders", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			s.count(pg, 0, "transport: "+transportKind(err))
			continue
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		switch resp.StatusCode {
		case http.StatusCreated:
			id := orderID(raw)
			s.mu.Lock()
			if prev, ok := s.accepted[key]; ok && prev != id {
				t.Errorf("key %s accepted as order %s and %s", key, prev, id)
			}
			s.accepted[key] = id
			if pg {
				s.duringPG[resp.StatusCode]++
			}
			s.mu.Unlock()
			return
		case http.StatusServiceUnavailable:
			s.mu.Lock()
			s.unavailable++
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				s.bad503 = append(s.bad503, fmt.Sprintf("%s: %s", ct, raw))
			}
			// The handler bounds database work by its 5 s request timeout.
			if took > 6*time.Second {
				s.slow503 = append(s.slow503, took.String())
			}
			if pg {
				s.duringPG[resp.StatusCode]++
			}
			s.mu.Unlock()
		default:
			s.count(pg, resp.StatusCode, fmt.Sprintf("HTTP %d", resp.StatusCode))
		}
	}
}

func (s *shop) count(pg bool, status int, kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unexpected[kind]++
	if pg {
		s.duringPG[status]++
	}
}

func transportKind(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	return "other"
}

func orderID(raw []byte) string {
	const field = `"id":"`
	i := bytes.Index(raw, []byte(field))
	if i < 0 || len(raw) < i+len(field)+36 {
		return ""
	}
	return string(raw[i+len(field) : i+len(field)+36])
}

// killHandler SIGKILLs the handler process of instance and waits for the
// host to start a new one.
func killHandler(t *testing.T, a *apptest.App, instance int) {
	t.Helper()
	pid := a.HandlerPIDs()[instance]
	if pid == 0 {
		t.Fatalf("no handler pid for instance %d", instance)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill handler %d: %v", pid, err)
	}
	a.WaitHandlerRestarted(t, instance, pid, time.Minute)
}

// crashHost SIGKILLs the host process and, as a crashed host's machine
// would, its handler processes (they run in their own process group and
// would otherwise outlive it), then starts a new host.
func (s *shop) crashHost(t *testing.T) {
	t.Helper()
	a := s.app
	pids := a.HandlerPIDs()
	if err := a.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	a.StartHostProcess(t, instances)
	s.url.Store(a.URL)
}

func restartRabbitMQ(t *testing.T) {
	t.Helper()
	ctl(t, "rabbitmqctl", "stop_app")
	time.Sleep(2 * time.Second) // the outage
	ctl(t, "rabbitmqctl", "start_app")
	ctl(t, "rabbitmqctl", "await_startup")
}

func (s *shop) restartPostgres(t *testing.T) {
	t.Helper()
	s.pgDown.Store(true)
	defer s.pgDown.Store(false)
	ctl(t, "pg_ctlcluster", "--skip-systemctl-redirect", postgresVersion(t), "main", "restart")
	testkit.Eventually(t, time.Minute, func() error {
		if err := exec.Command("pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432").Run(); err != nil {
			return fmt.Errorf("PostgreSQL did not come back: pg_isready: %w", err)
		}
		return nil
	})
}

func postgresVersion(t *testing.T) string {
	t.Helper()
	dirs, err := filepath.Glob("/etc/postgresql/*/main")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no PostgreSQL cluster under /etc/postgresql: %v", err)
	}
	return filepath.Base(filepath.Dir(dirs[0]))
}

func ctl(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// waitServicesHealthy waits until PostgreSQL and RabbitMQ serve again,
// whatever the test did to them, and starts them if they are down.
func waitServicesHealthy(t *testing.T) {
	deadline := time.Now().Add(3 * time.Minute)
	for exec.Command("pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432").Run() != nil {
		_ = exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", postgresVersion(t), "main", "start").Run()
		if time.Now().After(deadline) {
			t.Error("PostgreSQL is not healthy after the chaos run")
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for exec.Command("rabbitmq-diagnostics", "-q", "check_port_connectivity").Run() != nil {
		_ = exec.Command("rabbitmqctl", "start_app").Run()
		if time.Now().After(deadline) {
			t.Error("RabbitMQ is not healthy after the chaos run")
			break
		}
		time.Sleep(time.Second)
	}
}

// waitSettled waits up to two minutes until no order is pending, every
// order has its email and the outbox is drained (OutboxRelay runs every
// 10 s). It does not fail by itself: check then says what is missing.
func waitSettled(t *testing.T, a *apptest.App) {
	t.Helper()
	var state string
	settled := false
	testkit.Poll(2*time.Minute, func() bool {
		c := a.StatusCounts(t)
		emails := a.Count(t, "SELECT count(*) FROM sent_emails")
		outbox := a.Count(t, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
		state = fmt.Sprintf("statuses %v, emails %d, unpublished outbox rows %d", c, emails, outbox)
		settled = c["pending"] == 0 && c["confirmed"]+c["rejected"] == orders && emails == orders && outbox == 0
		return settled || a.Ctx.Err() != nil
	})
	if !settled {
		t.Logf("not settled: %s", state)
	}
}

// check asserts the end state from the database, the SMTP server and the
// dead-letter queues, and prints the counts.
func check(t *testing.T, a *apptest.App, broker apptest.Broker, product string, s *shop, pgRestarted bool) {
	t.Helper()
	s.mu.Lock()
	accepted := len(s.accepted)
	ids := make([]string, 0, accepted)
	for _, id := range s.accepted {
		ids = append(ids, id)
	}
	t.Logf("[%s] clients: %d accepted, %d retries, %d × 503, during the PostgreSQL restart %v, other failures %v",
		broker, accepted, s.retries, s.unavailable, s.duringPG, s.unexpected)
	if len(s.bad503) > 0 {
		t.Errorf("503 answers without problem+json: %q", s.bad503)
	}
	if len(s.slow503) > 0 {
		t.Errorf("503 answers that did not fail fast: %v", s.slow503)
	}
	if pgRestarted && s.duringPG[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no request saw the PostgreSQL outage as 503 (answers during it: %v)", s.duringPG)
	}
	s.mu.Unlock()

	c := a.StatusCounts(t)
	total := a.Count(t, "SELECT count(*) FROM orders")
	known := a.Count(t, "SELECT count(*) FROM orders WHERE id = ANY($1::uuid[])", ids)
	halfWritten := a.Count(t, `SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id)
		OR (SELECT count(*) FROM outbox x WHERE convert_from(x.payload, 'UTF8')::jsonb->>'orderId' = o.id::text) <> 1`)
	inconsistent := a.Count(t, `SELECT count(*) FROM orders WHERE (status = 'confirmed') <> (confirmed_at IS NOT NULL)
		OR (status = 'rejected') <> (rejected_at IS NOT NULL)`)
	decisions := a.Count(t, "SELECT count(*) FROM inbox WHERE consumer = 'process-order'")
	confirmedQty := a.Count(t, `SELECT coalesce(sum(i.quantity), 0) FROM order_items i JOIN orders o ON o.id = i.order_id
		WHERE o.status = 'confirmed' AND i.product_id = $1`, product)
	left := a.Count(t, "SELECT stock FROM products WHERE id = $1", product)
	emails := a.Count(t, "SELECT count(*) FROM sent_emails")
	emailedOrders := a.Count(t, "SELECT count(DISTINCT order_id) FROM sent_emails")
	unpublished := a.Count(t, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
	smtpTotal, smtpDistinct := smtpCounts(t, a)
	dead := deadLetters(t, a, broker)

	t.Logf("[%s] orders %d (accepted by clients %d, known %d): %v; half-written %d, inconsistent %d, process-order decisions %d",
		broker, total, accepted, known, c, halfWritten, inconsistent, decisions)
	t.Logf("[%s] stock: initial %d, confirmed quantity %d, left %d", broker, stock, confirmedQty, left)
	t.Logf("[%s] emails recorded %d for %d orders; SMTP server received %d messages, %d distinct Message-IDs", broker, emails, emailedOrders, smtpTotal, smtpDistinct)
	t.Logf("[%s] unpublished outbox rows %d; dead letters %v", broker, unpublished, dead)

	if accepted != orders || total != orders || known != orders {
		t.Errorf("%d orders accepted, %d in the database, %d of them known to clients; want %d each", accepted, total, known, orders)
	}
	if c["pending"] != 0 || c["confirmed"]+c["rejected"] != orders || inconsistent != 0 {
		t.Errorf("statuses %v (%d inconsistent); want every order in exactly one final state", c, inconsistent)
	}
	if c["confirmed"] != stock || c["rejected"] != orders-stock {
		t.Errorf("statuses %v; want %d confirmed and %d rejected for %d orders of one unit against stock %d", c, stock, orders-stock, orders, stock)
	}
	if halfWritten != 0 {
		t.Errorf("%d orders without items or without exactly one outbox event", halfWritten)
	}
	if decisions != orders {
		t.Errorf("%d process-order inbox entries, want one per order (%d)", decisions, orders)
	}
	if left != stock-confirmedQty || left < 0 {
		t.Errorf("stock left %d, want initial %d − confirmed %d = %d", left, stock, confirmedQty, stock-confirmedQty)
	}
	if emails != orders || emailedOrders != orders {
		t.Errorf("%d emails recorded for %d orders, want exactly one for each of %d", emails, emailedOrders, orders)
	}
	// A handler killed after the SMTP server accepted a message and before
	// its record committed sends it again (shared/store Emails.SendOnce);
	// the copy has the same Message-ID, so each order's email reached the
	// server with one identity.
	if smtpDistinct != orders {
		t.Errorf("SMTP server received %d distinct Message-IDs, want %d", smtpDistinct, orders)
	}
	if unpublished != 0 {
		t.Errorf("%d outbox rows left unpublished", unpublished)
	}
	for q, n := range dead {
		if n != 0 {
			t.Errorf("dead-letter queue of %s holds %d messages, want none", q, n)
		}
	}
}

// smtpCounts returns how many messages the SMTP server received and how
// many distinct Message-IDs they carried.
func smtpCounts(t *testing.T, a *apptest.App) (int, int) {
	t.Helper()
	ids := map[string]bool{}
	msgs := a.SMTP.Messages()
	for _, m := range msgs {
		parsed, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Errorf("SMTP message without headers: %v", err)
			continue
		}
		ids[parsed.Header.Get("Message-ID")] = true
	}
	return len(msgs), len(ids)
}

// deadLetters counts each consumer's dead letters. For RabbitMQ it
// connects anew: the App's connection did not survive the broker restart.
func deadLetters(t *testing.T, a *apptest.App, broker apptest.Broker) map[string]int {
	t.Helper()
	q := a.DeadLetters
	if broker == apptest.RabbitMQ {
		r, err := deadletter.NewRabbitMQ(deadletter.RabbitMQConfig{URL: a.Settings["RabbitMQConnection"]})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := r.Close(context.Background()); err != nil {
				t.Errorf("closing the dead-letter reader: %v", err)
			}
		}()
		q = r
	}
	out := map[string]int{}
	for _, consumer := range []string{"process-order", "send-email"} {
		msgs, err := q.List(a.Ctx, consumer, orders)
		if err != nil {
			t.Fatalf("listing %s dead letters: %v", consumer, err)
		}
		out[consumer] = len(msgs)
	}
	return out
}

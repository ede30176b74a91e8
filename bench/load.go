package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// orderClient posts orders to the app's HTTP front, as a shop front end
// would: JSON body, a fresh Idempotency-Key per order. It keeps its own
// HTTP/1.1 keep-alive connections and writes each request in one write,
// reading the answer with http.ReadResponse on the same goroutine:
// net/http's Transport hands every request between three goroutines, which
// cost this 2-core machine about as much CPU per order as pgbench's whole
// client. The load client is not part of what is measured, but its CPU is
// taken from the same cores.
type orderClient struct {
	addr string // host:port
	host string // Host header
	seq  atomic.Int64
	idle chan *clientConn
}

// clientConn is one keep-alive connection with its buffers.
type clientConn struct {
	net.Conn
	r    *bufio.Reader
	req  []byte
	raw  []byte
	done bool // the server asked to close it
}

func newOrderClient(rawURL string, conns int) *orderClient {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		panic(fmt.Sprintf("bench: bad app URL %q", rawURL))
	}
	return &orderClient{addr: u.Host, host: u.Host, idle: make(chan *clientConn, max(conns, 256))}
}

func (c *orderClient) get() (*clientConn, bool, error) {
	select {
	case cc := <-c.idle:
		return cc, true, nil
	default:
	}
	nc, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
	if err != nil {
		return nil, false, err
	}
	return &clientConn{Conn: nc, r: bufio.NewReaderSize(nc, 4096)}, false, nil
}

func (c *orderClient) put(cc *clientConn) {
	if cc.done {
		cc.Close()
		return
	}
	select {
	case c.idle <- cc:
	default:
		cc.Close()
	}
}

// close closes the idle connections.
func (c *orderClient) close() {
	for {
		select {
		case cc := <-c.idle:
			cc.Close()
		default:
			return
		}
	}
}

// place posts one order for one gift card and returns its id.
func (c *orderClient) place(ctx context.Context) (string, error) {
	n := c.seq.Add(1)
	key := "bench-" + uuid.NewString()
	for attempt := 0; ; attempt++ {
		cc, reused, err := c.get()
		if err != nil {
			return "", err
		}
		id, answered, err := c.post(ctx, cc, n, key)
		if err == nil {
			c.put(cc)
			return id, nil
		}
		cc.Close()
		// A kept connection the server closed while idle fails before any
		// answer; the retry carries the same Idempotency-Key, so it cannot
		// place the order twice.
		if !reused || answered || attempt > 0 || ctx.Err() != nil {
			return "", err
		}
	}
}

// post sends one order on cc and reads the answer; answered reports
// whether any of the answer arrived.
func (c *orderClient) post(ctx context.Context, cc *clientConn, n int64, key string) (id string, answered bool, err error) {
	body := fmt.Sprintf(`{"customerName":"Bench Client","customerEmail":"bench-%d@example.com","items":[{"productId":%q,"quantity":1}]}`, n, benchProduct)
	cc.req = fmt.Appendf(cc.req[:0], "POST /api/orders HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"Idempotency-Key: %s\r\nContent-Length: %d\r\n\r\n%s", c.host, key, len(body), body)
	deadline := time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := cc.SetDeadline(deadline); err != nil {
		return "", false, err
	}
	if _, err := cc.Write(cc.req); err != nil {
		return "", false, err
	}
	if _, err := cc.r.Peek(1); err != nil {
		return "", false, err
	}
	resp, err := http.ReadResponse(cc.r, nil)
	if err != nil {
		return "", true, err
	}
	buf := bytes.NewBuffer(cc.raw[:0])
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	cc.raw = buf.Bytes()
	if err != nil {
		return "", true, err
	}
	var o struct{ ID string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(cc.raw, &o) != nil || o.ID == "" {
		return "", true, fmt.Errorf("POST /api/orders = %d: %s", resp.StatusCode, cc.raw)
	}
	cc.done = resp.Close
	return o.ID, true, nil
}

// placed is one accepted order as the client saw it.
type placed struct {
	ID      string
	Start   time.Time
	Latency time.Duration
}

// closedLoop runs clients that each place orders back to back until
// duration passes or limit orders were placed (0: no limit). An error
// stops the run.
func (c *orderClient) closedLoop(ctx context.Context, clients int, duration time.Duration, limit int) ([]placed, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		out      []placed
		firstErr error
		issued   atomic.Int64
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(duration)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if limit > 0 && issued.Add(1) > int64(limit) {
					return
				}
				t0 := time.Now()
				id, err := c.place(ctx)
				lat := time.Since(t0)
				mu.Lock()
				if err != nil {
					if firstErr == nil && ctx.Err() == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				out = append(out, placed{ID: id, Start: t0, Latency: lat})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out, time.Since(start), firstErr
}

// openLoop places orders at a fixed rate for duration, whatever the
// responses do (at most 256 in flight), as independent shoppers would.
func (c *orderClient) openLoop(ctx context.Context, rate float64, duration time.Duration) ([]placed, error) {
	var (
		mu       sync.Mutex
		out      []placed
		firstErr error
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, 256)
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= duration {
			break
		}
		time.Sleep(time.Until(at))
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			t0 := time.Now()
			id, err := c.place(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			out = append(out, placed{ID: id, Start: t0, Latency: time.Since(t0)})
		}()
	}
	wg.Wait()
	return out, firstErr
}

// percentile returns the p-th percentile (0 < p ≤ 100) of ds, nearest
// rank; ds is sorted in place.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	k := int(float64(len(ds))*p/100+0.5) - 1
	return ds[max(0, min(k, len(ds)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func latencies(ps []placed) []time.Duration {
	out := make([]time.Duration, len(ps))
	for i, p := range ps {
		out[i] = p.Latency
	}
	return out
}

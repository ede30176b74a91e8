package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// orderClient posts orders to the app's HTTP front, as a shop front end
// would: JSON body, a fresh Idempotency-Key per order.
type orderClient struct {
	http *http.Client
	url  string
	seq  atomic.Int64
}

func newOrderClient(url string, conns int) *orderClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = conns, conns
	return &orderClient{http: &http.Client{Transport: tr, Timeout: 30 * time.Second}, url: url}
}

// place posts one order for one gift card and returns its id.
func (c *orderClient) place(ctx context.Context) (string, error) {
	n := c.seq.Add(1)
	body := fmt.Sprintf(`{"customerName":"Bench Client","customerEmail":"bench-%d@example.com","items":[{"productId":%q,"quantity":1}]}`, n, benchProduct)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/api/orders", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "bench-"+uuid.NewString())
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	var o struct{ ID string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &o) != nil || o.ID == "" {
		return "", fmt.Errorf("POST /api/orders = %d: %s", resp.StatusCode, raw)
	}
	return o.ID, nil
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

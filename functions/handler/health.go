package handler

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// checkTimeout bounds each dependency check.
const checkTimeout = 2 * time.Second

// Check is the outcome of one dependency check.
type Check struct {
	Status    string `json:"status"` // "up" or "down"
	Backend   string `json:"backend,omitempty"`
	Error     string `json:"error,omitempty"`
	ElapsedMs int64  `json:"elapsedMs"`
}

// HealthReport is the Health response.
type HealthReport struct {
	Status string           `json:"status"` // "healthy" or "unhealthy"
	Checks map[string]Check `json:"checks"`
}

// health is Health: GET /api/health. 200 when every dependency answers,
// 503 otherwise; the body names the failing one either way.
func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	checks := map[string]func(context.Context) error{
		"postgres": h.cfg.Store.Ping,
		"broker":   h.cfg.Publisher.Check,
	}
	rep := HealthReport{Status: "healthy", Checks: map[string]Check{}}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for name, check := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
			defer cancel()
			start := time.Now()
			err := check(ctx)
			c := Check{Status: "up", ElapsedMs: time.Since(start).Milliseconds()}
			if name == "broker" {
				c.Backend = h.cfg.Broker
			}
			if err != nil {
				c.Status, c.Error = "down", err.Error()
			}
			mu.Lock()
			rep.Checks[name] = c
			if err != nil {
				rep.Status = "unhealthy"
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	code := http.StatusOK
	if rep.Status != "healthy" {
		code = http.StatusServiceUnavailable
		h.cfg.Logger.Warn("health check failed", "checks", rep.Checks)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, "application/json", rep)
}

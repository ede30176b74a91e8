package servicebus

import (
	"encoding/json"
	"net/http"
)

// httpHandler serves GET /health like the official emulator: 200 {"status":"healthy"} while
// serving, 503 {"status":"unhealthy"} once stopping or failed (failStop). Other paths are the administration API.
func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		s.mu.Lock()
		stopped := s.stopped || s.failed.Load()
		s.mu.Unlock()
		if stopped {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "unhealthy"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "healthy"})
	})
	// Everything else is the administration API (admin.go).
	mux.Handle("/", newAdminHandler(s))
	return mux
}

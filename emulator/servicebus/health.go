package servicebus

import (
	"encoding/json"
	"net/http"
)

// httpHandler serves GET /health like the official emulator: 200 {"status":"healthy"} while
// serving, 503 {"status":"unhealthy"} once stopping. Other paths are RFC 9457 problems.
func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		s.mu.Lock()
		stopped := s.stopped
		s.mu.Unlock()
		if stopped {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "unhealthy"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "healthy"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"type": "about:blank", "title": "Not Found", "status": http.StatusNotFound,
			"detail": "this emulator serves only GET /health over HTTP", "instance": r.URL.Path,
		})
	})
	return mux
}

package servicebus

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/coder/websocket"
)

// WebSocketPath is where Service Bus serves AMQP over WebSockets (uamqp adds a trailing slash).
const WebSocketPath = "/$servicebus/websocket"

// webSocketProtocols are the subprotocols of AMQP over WebSockets: "amqp" (the OASIS binding, used
// by the Go and JavaScript SDKs) and uamqp's "AMQPWSB10".
var webSocketProtocols = []string{"amqp", "AMQPWSB10"}

// maxWebSocketMessageFactor bounds a WebSocket message at this many maximum-size AMQP frames: a
// client may pack several frames into one message (rhea does), and the frame reader bounds each
// frame; the message is streamed, never buffered whole.
const maxWebSocketMessageFactor = 64

// httpsHandler serves AMQP over WebSockets and, on every other path, the HTTP API.
func (s *Server) httpsHandler() http.Handler {
	api := s.httpHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimSuffix(r.URL.Path, "/") == WebSocketPath {
			s.serveWebSocket(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// serveWebSocket upgrades the request and serves one AMQP connection over it, binary message
// payloads forming the AMQP byte stream (AMQP WebSocket binding, section 2).
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: webSocketProtocols})
	if err != nil {
		s.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err) // Accept answered the client
		return
	}
	if !slices.Contains(webSocketProtocols, ws.Subprotocol()) {
		_ = ws.Close(websocket.StatusPolicyViolation, "subprotocol amqp required")
		return
	}
	if !s.track(1) {
		_ = ws.Close(websocket.StatusGoingAway, "the emulator is shutting down")
		return
	}
	// Not s.ctx: Stop cancels it before shutting connections down, and the close frame must still
	// reach the client. serveConn closes nc when the connection ends.
	nc := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	// NetConn lifts the read limit; set it again, as it bounds each message, not the stream.
	ws.SetReadLimit(int64(s.cfg.MaxFrameSize) * maxWebSocketMessageFactor)
	s.serveConn(nc)
}

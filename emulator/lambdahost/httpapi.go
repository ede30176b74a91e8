package lambdahost

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/orderflow/orderflow/internal/hostapi"
)

// httpHandler routes requests like an HTTP API with one route per Route
// ("METHOD /path/{param}") and answers unmatched requests as API Gateway
// does (404 {"message":"Not Found"}). The control API's paths
// (/admin/host/...) come first.
func (h *Host) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(hostapi.Prefix, h.serveAdmin)
	for _, r := range h.cfg.Routes {
		pattern := r.Method + " " + r.Path
		if r.Method == "ANY" {
			pattern = r.Path
		}
		serve := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { h.serveRoute(w, req, r) })
		mux.Handle(pattern, h.tel.wrapRoute(serve, r, r.Method+" "+r.Path))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { gatewayError(w, http.StatusNotFound, "Not Found") })
	return mux
}

func gatewayError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// serveRoute turns the request into a payload v2 event, invokes the
// function and writes its answer.
func (h *Host) serveRoute(w http.ResponseWriter, r *http.Request, route Route) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
			return
		}
		gatewayError(w, http.StatusBadRequest, "Bad Request")
		return
	}
	ev := HTTPEvent(r, route, body)
	payload, err := json.Marshal(ev)
	if err != nil {
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	fn := h.funcs[route.Function]
	ctx, cancel := context.WithTimeout(r.Context(), fn.cfg.Timeout+30*time.Second)
	defer cancel()
	out, err := h.Invoke(ctx, route.Function, payload)
	if err != nil {
		h.cfg.Logger.Warn("HTTP invocation failed", "function", route.Function, "path", r.URL.Path, "err", err)
		if errors.Is(err, ErrThrottled) {
			// A throttled Lambda integration (reserved concurrency 0, a
			// stopped function here) answers 429.
			gatewayError(w, http.StatusTooManyRequests, "Too Many Requests")
			return
		}
		var fe *FunctionError
		if errors.As(err, &fe) && errors.Is(err, ErrTimeout) {
			gatewayError(w, http.StatusServiceUnavailable, "Service Unavailable")
			return
		}
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if err := writeHTTPResponse(w, out); err != nil {
		h.cfg.Logger.Warn("malformed function response", "function", route.Function, "err", err)
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
	}
}

// HTTPEvent builds the payload v2 event API Gateway sends for r on route:
// lower-case headers with repeated values joined by commas, cookies apart,
// the raw query string, path parameters, and a base64 body unless the
// content type is text.
func HTTPEvent(r *http.Request, route Route, body []byte) events.APIGatewayV2HTTPRequest {
	routeKey := route.Method + " " + route.Path
	if route.Method == "ANY" {
		routeKey = "ANY " + route.Path
	}
	now := time.Now().UTC()
	host := r.Host
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: routeKey, RawPath: r.URL.EscapedPath(), RawQueryString: r.URL.RawQuery,
		Headers: map[string]string{},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: routeKey, AccountID: "000000000000", Stage: "$default", RequestID: uuid.NewString(),
			APIID: "local", DomainName: host, DomainPrefix: strings.Split(host, ".")[0],
			Time: now.Format("02/Jan/2006:15:04:05 -0700"), TimeEpoch: now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: r.Method, Path: r.URL.Path, Protocol: r.Proto,
				SourceIP: sourceIP(r.RemoteAddr), UserAgent: r.UserAgent()},
		},
	}
	for k, vs := range r.Header {
		if strings.EqualFold(k, "Cookie") {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						ev.Cookies = append(ev.Cookies, c)
					}
				}
			}
			continue
		}
		ev.Headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	ev.Headers["host"] = host
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	for _, seg := range strings.Split(route.Path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			name := strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "}")
			name = strings.TrimSuffix(name, "...")
			if ev.PathParameters == nil {
				ev.PathParameters = map[string]string{}
			}
			ev.PathParameters[name] = r.PathValue(name)
		}
	}
	if len(body) > 0 {
		if textual(r.Header.Get("Content-Type")) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return ev
}

func sourceIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// textual reports whether API Gateway passes a body of this type as text.
func textual(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || mt == "application/xml" ||
		strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml") || mt == "application/x-www-form-urlencoded"
}

// writeHTTPResponse writes a payload v2 response. Like API Gateway, a
// payload without statusCode is taken as a 200 JSON body.
func writeHTTPResponse(w http.ResponseWriter, out []byte) error {
	var probe map[string]json.RawMessage
	if json.Unmarshal(out, &probe) != nil || probe["statusCode"] == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
		return nil
	}
	var res events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("decoding the response: %w", err)
	}
	if res.StatusCode < 100 || res.StatusCode > 599 {
		return fmt.Errorf("statusCode %d", res.StatusCode)
	}
	body := []byte(res.Body)
	if res.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(res.Body); err != nil {
			return fmt.Errorf("isBase64Encoded body: %w", err)
		}
	}
	for k, v := range res.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range res.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, c := range res.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(body)
	return nil
}

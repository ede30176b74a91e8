package handler

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// router matches request paths against route templates the way the
// Functions host does (ASP.NET Core routing): literal segments compare
// case-insensitively, one trailing slash is ignored, {name} captures a
// segment (read with r.PathValue). The request keeps its original path.
// The host forwards that original path in proxying and forwarding modes, so
// the handler must accept whatever the host matched.
type router struct {
	routes []route
}

type route struct {
	segments []string // literal, or "{name}" for a parameter
	fn       http.HandlerFunc
}

// handle registers a template such as "/api/orders/{id}".
func (rt *router) handle(template string, fn http.HandlerFunc) {
	rt.routes = append(rt.routes, route{segments: splitPath(template), fn: fn})
}

func splitPath(p string) []string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// ServeHTTP serves the first route that matches, or 404 (problem+json).
func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	parts := splitPath(path)
	for _, ro := range rt.routes {
		if params, ok := ro.match(parts); ok {
			for k, v := range params {
				r.SetPathValue(k, v)
			}
			ro.fn(w, r)
			return
		}
	}
	status(w, r, http.StatusNotFound, fmt.Sprintf("no function serves %s", r.URL.Path))
}

func (ro route) match(parts []string) (map[string]string, bool) {
	if len(parts) != len(ro.segments) {
		return nil, false
	}
	var params map[string]string
	for i, seg := range ro.segments {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			if parts[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[seg[1:len(seg)-1]] = parts[i]
			continue
		}
		if !strings.EqualFold(seg, parts[i]) {
			return nil, false
		}
	}
	return params, true
}

// RoutePrefixFromHostJSON reads extensions.http.routePrefix from dir's
// host.json, keys matched case-insensitively as the host's configuration
// binding does: "api" when the setting is absent, "" when it is set empty,
// surrounding slashes trimmed. The host starts the handler with the app
// root in FUNCTIONS_APP_ROOT_PATH (and as its working directory by
// default); that is dir.
func RoutePrefixFromHostJSON(dir string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "host.json"))
	if err != nil {
		return "", fmt.Errorf("reading host.json: %w", err)
	}
	var host map[string]json.RawMessage
	if err := json.Unmarshal(raw, &host); err != nil {
		return "", fmt.Errorf("parsing host.json: %w", err)
	}
	prefix := "api"
	ext := field(host, "extensions")
	httpExt := field(ext, "http")
	if v, ok := httpExt[lookupKey(httpExt, "routePrefix")]; ok {
		if err := json.Unmarshal(v, &prefix); err != nil {
			return "", fmt.Errorf("host.json extensions.http.routePrefix: %w", err)
		}
	}
	return strings.Trim(prefix, "/"), nil
}

// field returns the object under key (case-insensitive), nil if absent.
func field(obj map[string]json.RawMessage, key string) map[string]json.RawMessage {
	var out map[string]json.RawMessage
	if v, ok := obj[lookupKey(obj, key)]; ok {
		_ = json.Unmarshal(v, &out)
	}
	return out
}

func lookupKey(obj map[string]json.RawMessage, key string) string {
	for k := range obj {
		if strings.EqualFold(k, key) {
			return k
		}
	}
	return key
}

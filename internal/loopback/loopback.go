// Package loopback decides which HTTP Host values a local development
// server answers: the names of this machine's loopback interface, plus
// names the user lists. Servers that act on a developer's machine (the
// Functions host, the dashboard) refuse others to defeat DNS rebinding.
package loopback

import (
	"net"
	"strings"
)

// Allowed reports whether a request's Host names this machine's
// loopback interface (localhost, *.localhost, 127.0.0.0/8, ::1) or one of
// the configured extra names. Refusing other names defeats DNS rebinding: a
// page on evil.example re-pointed at 127.0.0.1 still sends Host: evil.example.
func Allowed(hostport string, extra []string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(strings.ToLower(host), "[]"), ".")
	if host == "" {
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, h := range extra {
		if h == "*" || strings.EqualFold(strings.TrimSuffix(h, "."), host) {
			return true
		}
	}
	return false
}

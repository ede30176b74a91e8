package lambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// HTTP serves an API Gateway HTTP API payload v2 request (a Lambda
// Function URL request has the same JSON shape) through the app's router
// and returns its answer unchanged: status, headers and body. Only
// transport differences remain: repeated response headers are joined with
// ", " and Set-Cookie moves to cookies (payload v2 has no multi-value
// headers), and non-text bodies travel base64-encoded.
func (a *Adapter) HTTP(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	r, err := Request(ctx, ev)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	a.traceContext(r)
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, r)
	return Response(rec.Result().StatusCode, rec.Header(), rec.Body.Bytes()), nil
}

// Request rebuilds the client's HTTP request from a payload v2 event:
// method, raw path and query string (repeated parameters kept), headers,
// cookies and the body, base64-decoded when isBase64Encoded.
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	method := ev.RequestContext.HTTP.Method
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	if method == "" || !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("%w: requestContext.http.method %q, rawPath %q", ErrNotHTTP, method, path)
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, fmt.Errorf("%w: isBase64Encoded body: %w", ErrNotHTTP, err)
		}
	}
	// The path is kept as sent (escaped), so that routing sees what the
	// Azure host's proxy sees.
	u, err := url.Parse(path)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return nil, fmt.Errorf("%w: rawPath %q is not a path", ErrNotHTTP, path)
	}
	u.RawQuery = ev.RawQueryString
	r, err := http.NewRequestWithContext(ctx, method, u.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotHTTP, err)
	}
	for k, v := range ev.Headers {
		r.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	r.Host = r.Header.Get("Host")
	if r.Host == "" {
		r.Host = ev.RequestContext.DomainName
	}
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	r.RemoteAddr = ev.RequestContext.HTTP.SourceIP
	if ev.RequestContext.HTTP.Protocol != "" {
		if major, minor, ok := http.ParseHTTPVersion(ev.RequestContext.HTTP.Protocol); ok {
			r.Proto, r.ProtoMajor, r.ProtoMinor = ev.RequestContext.HTTP.Protocol, major, minor
		}
	}
	return r, nil
}

// Response turns an HTTP answer into the payload v2 response.
func Response(status int, header http.Header, body []byte) events.APIGatewayV2HTTPResponse {
	res := events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{}}
	keys := make([]string, 0, len(header))
	for k := range header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if http.CanonicalHeaderKey(k) == "Set-Cookie" {
			res.Cookies = append(res.Cookies, header[k]...)
			continue
		}
		res.Headers[k] = strings.Join(header[k], ", ")
	}
	if textual(header.Get("Content-Type")) {
		res.Body = string(body)
	} else if len(body) > 0 {
		res.Body, res.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	return res
}

// textual reports whether a body of this media type travels as text:
// text/*, JSON and XML (including +json and +xml types such as
// application/problem+json).
func textual(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || mt == "application/xml" ||
		strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml") || mt == "application/javascript"
}

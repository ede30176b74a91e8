package lambda_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/functions/lambda"
)

func FuzzSplitQueueKey(f *testing.F) {
	for _, s := range []string{"process-order::/", "q::vh::x", "::/", "q::", "noseparator", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		q, vh, err := lambda.SplitQueueKey(key)
		if err != nil {
			return
		}
		if q == "" || vh == "" || q+lambda.QueueKeySeparator+vh != key || strings.Contains(q, lambda.QueueKeySeparator) {
			t.Fatalf("%q split into %q and %q", key, q, vh)
		}
	})
}

// FuzzRequest decodes arbitrary events as lambda.Start would and rebuilds
// the request: it must either fail with ErrNotHTTP or give a request for a
// path (never another host) with the decoded body.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		`{"version":"2.0","rawPath":"/api/orders","rawQueryString":"a=1&a=2","cookies":["a=b"],"headers":{"content-type":"application/json"},"requestContext":{"http":{"method":"POST","protocol":"HTTP/1.1"}},"body":"e30=","isBase64Encoded":true}`,
		`{"rawPath":"//evil.example/x","requestContext":{"http":{"method":"GET"}}}`,
		`{"rawPath":"/a b?c","requestContext":{"http":{"method":"G ET"}}}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev events.APIGatewayV2HTTPRequest
		if json.Unmarshal(b, &ev) != nil {
			return
		}
		r, err := lambda.Request(context.Background(), ev)
		if err != nil {
			return
		}
		if r.URL.Host != "" || r.URL.Scheme != "" || !strings.HasPrefix(r.URL.Path, "/") {
			t.Fatalf("event %s gave URL %s", b, r.URL)
		}
		if r.ContentLength < 0 {
			t.Fatalf("content length %d", r.ContentLength)
		}
	})
}

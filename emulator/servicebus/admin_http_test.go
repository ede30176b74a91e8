package servicebus_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus"
)

// sasToken signs a SharedAccessSignature for resource as the SDKs do.
func sasToken(resource, keyName, key string, expiry time.Time) string {
	sr := url.QueryEscape(strings.ToLower(resource))
	se := fmt.Sprint(expiry.Unix())
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(sr + "\n" + se))
	sig := url.QueryEscape(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return fmt.Sprintf("SharedAccessSignature sr=%s&sig=%s&se=%s&skn=%s", sr, sig, se, keyName)
}

// adminHTTP sends one raw request to the administration API, signed for the request URL like the
// SDKs sign it (unless token is given), and returns status, content type and body.
func adminHTTP(t *testing.T, srv *servicebus.Server, method, path, body string, header map[string]string) (int, string, string) {
	t.Helper()
	u := "http://" + srv.HTTPAddr() + path
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", sasToken("https://"+srv.HTTPAddr()+path, servicebus.DefaultKeyName, servicebus.DefaultKey, time.Now().Add(time.Hour)))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

const queueEntry = `<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect">%s</QueueDescription></content></entry>`

// TestAdminHTTPBadInput: client mistakes get a 4xx with the service's XML error body and a reason,
// never a 5xx, and the bounds on body size and nesting hold.
func TestAdminHTTPBadInput(t *testing.T) {
	t.Parallel()
	srv, _, _ := startAdmin(t, servicebus.Config{})
	q := "/" + uniqueName(t)
	huge := fmt.Sprintf(queueEntry, "<UserMetadata>"+strings.Repeat("x", 300<<10)+"</UserMetadata>")
	deep := strings.Repeat("<a>", 5000) + strings.Repeat("</a>", 5000)
	for _, tc := range []struct {
		name, method, path, body string
		header                   map[string]string
		code                     int
		reason                   string
	}{
		{"malformed xml", "PUT", q, "<entry><content>", nil, 400, "malformed"},
		{"deep xml", "PUT", q, deep, nil, 400, "nested deeper"},
		{"body too large", "PUT", q, huge, nil, 413, "larger than"},
		{"bad duration", "PUT", q, fmt.Sprintf(queueEntry, "<LockDuration>soon</LockDuration>"), nil, 400, "LockDuration"},
		{"bad bool", "PUT", q, fmt.Sprintf(queueEntry, "<RequiresSession>maybe</RequiresSession>"), nil, 400, "RequiresSession"},
		{"bad size", "PUT", q, fmt.Sprintf(queueEntry, "<MaxSizeInMegabytes>1000</MaxSizeInMegabytes>"), nil, 400, "MaxSizeInMegabytes"},
		{"bad status", "PUT", q, fmt.Sprintf(queueEntry, "<Status>Sleeping</Status>"), nil, 400, "Status"},
		{"long metadata", "PUT", q, fmt.Sprintf(queueEntry, "<UserMetadata>"+strings.Repeat("m", 1025)+"</UserMetadata>"), nil, 400, "UserMetadata"},
		{"forward to nothing", "PUT", q, fmt.Sprintf(queueEntry, "<ForwardTo>sb://x/nowhere</ForwardTo>"), nil, 400, "nowhere"},
		{"topic at a subscription path", "PUT", q + "/Subscriptions/s", strings.ReplaceAll(fmt.Sprintf(queueEntry, ""), "QueueDescription", "TopicDescription"), nil, 400, "cannot be put"},
		{"if-match etag", "PUT", q, fmt.Sprintf(queueEntry, ""), map[string]string{"If-Match": `"v1"`}, 400, "If-Match"},
		{"bad top", "GET", "/$Resources/Queues?$top=-1", "", nil, 400, "$top"},
		{"bad skip", "GET", "/$Resources/Queues?$skip=x", "", nil, 400, "$skip"},
		{"unknown resource", "GET", "/$Resources/Relays", "", nil, 400, "unknown resource"},
		{"method", "POST", q, "", nil, 405, "POST"},
		// Bytes whose lower case is longer once moved the path parser's indexes out of range (a panic).
		{"invalid utf-8 path", "GET", "/%82%82%82%82%82%82%82%82/SuBsCriptions", "", nil, 404, ""},
		{"bad queue name", "PUT", "/bad%20name", fmt.Sprintf(queueEntry, ""), nil, 400, "entity name"},
		{"name ends in a dot", "PUT", "/name.", fmt.Sprintf(queueEntry, ""), nil, 400, "entity name"},
		{"long subscription name", "PUT", q + "/Subscriptions/" + strings.Repeat("s", 51), strings.ReplaceAll(fmt.Sprintf(queueEntry, ""), "QueueDescription", "SubscriptionDescription"), nil, 400, "subscription name"},
		{"delete missing", "DELETE", q, "", nil, 404, ""},
		{"update missing", "PUT", q, fmt.Sprintf(queueEntry, ""), map[string]string{"If-Match": "*"}, 404, ""},
		{"list subscriptions of a missing topic", "GET", q + "/Subscriptions", "", nil, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ct, body := adminHTTP(t, srv, tc.method, tc.path, tc.body, tc.header)
			if code != tc.code || !strings.HasPrefix(ct, "application/xml") ||
				!strings.Contains(body, fmt.Sprintf("<Code>%d</Code>", tc.code)) || !strings.Contains(body, tc.reason) {
				t.Errorf("%s %s: %d %s %.300s; want %d naming %q", tc.method, tc.path, code, ct, body, tc.code, tc.reason)
			}
		})
	}
	// Nothing was created by the refused requests.
	if code, _, body := adminHTTP(t, srv, "GET", q, "", nil); code != 200 || !strings.Contains(body, "Publicly Listed Services") {
		t.Errorf("GET %s after the refusals: %d %s", q, code, body)
	}
}

// TestAdminHTTPFormat checks what the SDK parsers depend on: content types, entry ids and titles,
// the prefixed CountDetails namespace, and the next link of a partial list.
func TestAdminHTTPFormat(t *testing.T) {
	t.Parallel()
	srv, _, _ := startAdmin(t, servicebus.Config{})
	q := uniqueName(t)
	code, ct, body := adminHTTP(t, srv, "PUT", "/"+q, fmt.Sprintf(queueEntry, "<LockDuration>PT30S</LockDuration>"), nil)
	if code != http.StatusCreated || ct != "application/atom+xml;type=entry;charset=utf-8" {
		t.Fatalf("create: %d %s %s", code, ct, body)
	}
	code, _, _ = adminHTTP(t, srv, "PUT", "/"+q, fmt.Sprintf(queueEntry, ""), nil)
	if code != http.StatusConflict {
		t.Errorf("second create: %d, want 409", code)
	}
	_, _, body = adminHTTP(t, srv, "GET", "/"+strings.ToUpper(q), "", nil)
	for _, want := range []string{
		`<title type="text">` + q + `</title>`,
		`<id>https://` + srv.HTTPAddr() + `/` + q + `?api-version=`,
		`<LockDuration>PT30S</LockDuration><MaxSizeInMegabytes>1024</MaxSizeInMegabytes>`,
		`<CountDetails xmlns:d2p1="http://schemas.microsoft.com/netservices/2011/06/servicebus"><d2p1:ActiveMessageCount>0</d2p1:ActiveMessageCount>`,
		`<AutoDeleteOnIdle>P10675199DT2H48M5.4775807S</AutoDeleteOnIdle>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET (names match case-insensitively) lacks %s:\n%s", want, body)
		}
	}
	for i := range 3 {
		adminHTTP(t, srv, "PUT", fmt.Sprintf("/%s-%d", q, i), fmt.Sprintf(queueEntry, ""), nil)
	}
	code, ct, body = adminHTTP(t, srv, "GET", "/$Resources/Queues?$top=2&$skip=1", "", nil)
	if code != 200 || ct != "application/atom+xml;type=feed;charset=utf-8" || strings.Count(body, "<entry ") != 2 ||
		!strings.Contains(body, `<link rel="next" href="https://`+srv.HTTPAddr()+`/$Resources/Queues?%24skip=3&amp;%24top=2&amp;api-version=`) {
		t.Errorf("page: %d %s %s", code, ct, body)
	}
	// $skip past the end: an empty feed, no next link.
	if _, _, body = adminHTTP(t, srv, "GET", "/$Resources/Queues?$skip=10", "", nil); strings.Contains(body, "<entry") || strings.Contains(body, `rel="next"`) {
		t.Errorf("page past the end: %s", body)
	}
	if code, _, _ := adminHTTP(t, srv, "DELETE", "/"+q, "", nil); code != 200 {
		t.Errorf("delete: %d", code)
	}
}

// TestAdminHTTPTokens: the Authorization header must hold a valid, unexpired SAS token that covers
// the request; a token for another URL, an expired one or one signed with another key is 401.
func TestAdminHTTPTokens(t *testing.T) {
	t.Parallel()
	srv, _, _ := startAdmin(t, servicebus.Config{})
	path := "/$Resources/Queues"
	base := "https://" + srv.HTTPAddr()
	for name, token := range map[string]string{
		"expired":      sasToken(base+path, servicebus.DefaultKeyName, servicebus.DefaultKey, time.Now().Add(-time.Minute)),
		"wrong key":    sasToken(base+path, servicebus.DefaultKeyName, "other", time.Now().Add(time.Hour)),
		"unknown name": sasToken(base+path, "Nobody", servicebus.DefaultKey, time.Now().Add(time.Hour)),
		"other entity": sasToken(base+"/some-queue", servicebus.DefaultKeyName, servicebus.DefaultKey, time.Now().Add(time.Hour)),
		"not sas":      "Bearer abc",
		"empty":        "",
		"garbage":      "SharedAccessSignature sr=%zz&sig=&se=x",
		"other host":   sasToken("https://elsewhere"+path, servicebus.DefaultKeyName, servicebus.DefaultKey, time.Now().Add(time.Hour)),
	} {
		code, _, body := adminHTTP(t, srv, "GET", path, "", map[string]string{"Authorization": token})
		if code != http.StatusUnauthorized || !strings.Contains(body, "<Code>401</Code>") {
			t.Errorf("%s: %d %s, want 401", name, code, body)
		}
	}
	// The namespace-wide token (what a SAS for the namespace root gives) covers every path.
	code, _, _ := adminHTTP(t, srv, "GET", path, "", map[string]string{
		"Authorization": sasToken(base+"/", servicebus.DefaultKeyName, servicebus.DefaultKey, time.Now().Add(time.Hour))})
	if code != http.StatusOK {
		t.Errorf("namespace token: %d, want 200", code)
	}
}

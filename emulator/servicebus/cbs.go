package servicebus

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// Token types of put-token requests.
const (
	tokenTypeSAS = "servicebus.windows.net:sastoken"
	tokenTypeJWT = "jwt"
)

// putToken answers a $cbs put-token request: 200 for a valid token on an existing entity, 401
// for a bad or expired token, 404 for an unknown entity (the SDK turns these into
// CodeUnauthorizedAccess and CodeNotFound).
func (c *conn) putToken(req *request) *response {
	if op := propString(req.props, "operation"); op != "put-token" {
		return &response{code: 400, desc: fmt.Sprintf("unsupported CBS operation %q", op)}
	}
	audience := propString(req.props, "name")
	token, _ := req.value.(string)
	switch propString(req.props, "type") {
	case tokenTypeJWT:
		if !c.srv.cfg.AcceptAnyToken {
			return &response{code: 401, desc: "jwt tokens are accepted only with AcceptAnyToken"}
		}
	case tokenTypeSAS:
		if !c.srv.cfg.AcceptAnyToken {
			if err := verifySAS(token, audience, c.srv.cfg.Keys, time.Now()); err != nil {
				c.log.Debug("put-token refused", "audience", audience, "err", err)
				return &response{code: 401, desc: err.Error()}
			}
		}
	default:
		return &response{code: 401, desc: fmt.Sprintf("unsupported token type %q", propString(req.props, "type"))}
	}
	path := entityPathOf(audience)
	if path != "" {
		if _, err := c.srv.broker.Resolve(path); err != nil {
			if errors.Is(err, broker.ErrNotFound) {
				return &response{code: 404, desc: fmt.Sprintf("The messaging entity '%s' could not be found.", path)}
			}
			return &response{code: 500, desc: err.Error()}
		}
	}
	return &response{code: 200, desc: "OK"}
}

// entityPathOf extracts the entity path from an audience such as amqp://host/queue/$management.
func entityPathOf(audience string) string {
	s := stripScheme(audience)
	i := strings.IndexByte(s, '/')
	if i < 0 {
		return ""
	}
	path := strings.Trim(s[i+1:], "/")
	if hasSuffixFold(path, "/$management") {
		path = path[:len(path)-len("/$management")]
	} else if strings.EqualFold(path, "$management") {
		path = ""
	}
	return path
}

func stripScheme(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		return s[i+3:]
	}
	return s
}

// verifySAS checks a SharedAccessSignature token: HMAC-SHA256 over "<sr>\n<se>" with the key
// named by skn, expiry in the future, and sr a prefix of the audience (schemes ignored).
func verifySAS(token, audience string, keys map[string]string, now time.Time) error {
	rest, ok := strings.CutPrefix(token, "SharedAccessSignature ")
	if !ok {
		return errors.New("not a SharedAccessSignature token")
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, "&") {
		k, v, _ := strings.Cut(part, "=")
		fields[k] = v
	}
	sr, sig, se, skn := fields["sr"], fields["sig"], fields["se"], fields["skn"]
	if sr == "" || sig == "" || se == "" || skn == "" {
		return errors.New("token lacks sr, sig, se or skn")
	}
	key, ok := keys[skn]
	if !ok {
		return fmt.Errorf("unknown key name %q", skn)
	}
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(sr + "\n" + se))
	want := mac.Sum(nil)
	rawSig, err := url.QueryUnescape(sig)
	if err != nil {
		return fmt.Errorf("bad signature encoding: %w", err)
	}
	got, err := base64.StdEncoding.DecodeString(rawSig)
	if err != nil || !hmac.Equal(got, want) {
		return errors.New("invalid signature")
	}
	exp, err := strconv.ParseInt(se, 10, 64)
	if err != nil {
		return fmt.Errorf("bad expiry %q", se)
	}
	if exp <= now.Unix() {
		return errors.New("token expired")
	}
	resource, err := url.QueryUnescape(sr)
	if err != nil {
		return fmt.Errorf("bad resource encoding: %w", err)
	}
	if !strings.HasPrefix(strings.ToLower(stripScheme(audience)), strings.ToLower(stripScheme(resource))) {
		return fmt.Errorf("token for %q does not cover %q", resource, audience)
	}
	return nil
}

package servicebus

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// putToken answers a $cbs put-token request: 200 for a valid token on an existing entity (the
// connection then holds its grant, replacing an earlier one for the same audience), 401 for a bad,
// expired or misdirected token, 404 for an unknown entity (the SDKs turn these into
// CodeUnauthorizedAccess and CodeNotFound).
func (c *conn) putToken(req *request) *response {
	if op := propString(req.props, "operation"); op != "put-token" {
		return &response{code: 400, desc: fmt.Sprintf("unsupported CBS operation %q", op)}
	}
	audience := propString(req.props, "name")
	token, _ := req.value.(string)
	now := time.Now()
	g, err := c.srv.authz.Verify(propString(req.props, "type"), token, audience, now)
	if err != nil {
		c.log.Debug("put-token refused", "audience", audience, "err", err)
		return &response{code: 401, desc: unauthorizedDesc(err)}
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
	c.grants.Put(g, now)
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

package servicebus

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/atom"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// The administration API: Service Bus's ATOM/XML management endpoints on the
// HTTP port, as the SDKs' administration clients call them:
//
//	GET    /$namespaceinfo                        namespace properties
//	GET    /$Resources/Queues|Topics?$skip&$top   list (feed)
//	GET    /{topic}/Subscriptions?$skip&$top      list subscriptions
//	GET    /{topic}/Subscriptions/{sub}/Rules     list rules
//	GET    /{entity}                              one queue, topic, subscription or rule
//	PUT    /{entity}                              create (409 if it exists); with If-Match: * update (404 if missing)
//	DELETE /{entity}                              delete (404 if missing)
//
// A GET of a missing entity answers 200 with an empty feed, as the service
// does (both SDKs turn it into "not found"). Properties the broker does not
// act on (AutoDeleteOnIdle, UserMetadata, ...) are validated, stored and
// reported back; they are stored with the broker entity (admin_meta.go), so
// they are journaled with it in durable mode.
// Every request is authorized by adminHandler.authorize.

// Bounds of a request: body size and list page.
const (
	adminMaxBody = 256 << 10
	// adminDefaultTop is a list page without $top; adminMaxTop bounds the
	// response. A smaller page than asked would end the Go SDK's pager
	// early (it stops at a short page), so the bound is generous.
	adminDefaultTop = 100
	adminMaxTop     = 1000
)

// Content types of the ATOM API.
const (
	ctEntry = "application/atom+xml;type=entry;charset=utf-8"
	ctFeed  = "application/atom+xml;type=feed;charset=utf-8"
	ctError = "application/xml; charset=utf-8"
)

// apiVersion is echoed in ids and links when the request carries none.
const apiVersion = "2021-05"

// adminPath is a parsed request path.
type adminPath struct {
	kind              pathKind
	name, topic, sub  string // name: queue or topic; topic/sub for subscriptions and rules
	rule              string
	canonical         string // for ids: the path as requested, without slashes at the ends
	entityPathForAuth string
}

type pathKind uint8

const (
	pathNamespace pathKind = iota + 1
	pathQueues
	pathTopics
	pathEntity // a queue or a topic
	pathSubscriptions
	pathSubscription
	pathRules
	pathRule
)

// requestError is a client mistake, answered with its status code and
// message.
type requestError struct {
	code int
	msg  string
}

func (e *requestError) Error() string { return e.msg }

func adminBadRequest(format string, args ...any) error {
	return &requestError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func parseAdminPath(raw string) (adminPath, error) {
	p := strings.Trim(raw, "/")
	ap := adminPath{canonical: p}
	// Indexes found in lower are used on p: lower only ASCII letters, which
	// keeps every byte where it is (strings.ToLower may change lengths).
	lower := asciiLower(p)
	switch lower {
	case "":
		return ap, adminBadRequest("no entity in the path")
	case "$namespaceinfo":
		ap.kind = pathNamespace
		return ap, nil
	case "$resources/queues":
		ap.kind = pathQueues
		return ap, nil
	case "$resources/topics":
		ap.kind = pathTopics
		return ap, nil
	}
	if strings.HasPrefix(p, "$") {
		return ap, adminBadRequest("unknown resource %q", p)
	}
	if t, ok := strings.CutSuffix(lower, "/subscriptions"); ok {
		ap.kind, ap.topic = pathSubscriptions, p[:len(t)]
		ap.entityPathForAuth = ap.topic
		return ap, checkSegments(ap.topic)
	}
	i := strings.Index(lower, "/subscriptions/")
	if i < 0 {
		ap.kind, ap.name, ap.entityPathForAuth = pathEntity, p, p
		return ap, checkSegments(p)
	}
	ap.topic, ap.sub = p[:i], p[i+len("/subscriptions/"):]
	subLower := asciiLower(ap.sub)
	switch {
	case strings.HasSuffix(subLower, "/rules"):
		ap.kind, ap.sub = pathRules, ap.sub[:len(ap.sub)-len("/rules")]
	case strings.Contains(subLower, "/rules/"):
		j := strings.Index(subLower, "/rules/")
		ap.kind, ap.rule, ap.sub = pathRule, ap.sub[j+len("/rules/"):], ap.sub[:j]
	default:
		ap.kind = pathSubscription
	}
	ap.entityPathForAuth = ap.topic + "/Subscriptions/" + ap.sub
	names := []string{ap.topic, ap.sub}
	if ap.kind == pathRule {
		names = append(names, ap.rule)
	}
	for _, s := range names {
		if err := checkSegments(s); err != nil {
			return ap, err
		}
	}
	if strings.Contains(ap.sub, "/") || strings.Contains(ap.rule, "/") {
		return ap, adminBadRequest("subscription and rule names cannot contain '/'")
	}
	return ap, nil
}

// asciiLower lowers the ASCII letters of s and leaves every other byte.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func checkSegments(name string) error {
	if name == "" {
		return adminBadRequest("empty entity name")
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" {
			return adminBadRequest("entity name %q has an empty segment", name)
		}
	}
	return nil
}

// adminHandler serves the administration API.
type adminHandler struct {
	srv   *Server
	start time.Time // reported as the namespace's creation time
}

func newAdminHandler(s *Server) *adminHandler {
	return &adminHandler{srv: s, start: s.cfg.Clock.Now().UTC()}
}

// authorize checks the request's Authorization header: a token that covers
// the request URL (the SDKs sign it; the query is ignored) with the Manage
// claim, as Service Bus requires for every administration request. Every
// request goes through it; failures are answered 401. entityPath is the
// entity the request is about ("" for namespace-wide ones).
func (h *adminHandler) authorize(r *http.Request, entityPath string) error {
	_ = entityPath // the URL's path names it; kept for checks that need the bare path
	return h.srv.Authorize(r.Header.Get("Authorization"), "http://"+r.Host+r.URL.EscapedPath(), Manage)
}

func (h *adminHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ap, err := parseAdminPath(r.URL.Path)
	if err != nil {
		writeAdminError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := h.authorize(r, ap.entityPathForAuth); err != nil {
		writeAdminError(w, http.StatusUnauthorized, err.Error())
		return
	}
	// After a fail-stop (durable.go) a change would be made in memory but
	// not journaled, and a read could show a change that was refused and
	// that the restart will not have: the API is unavailable, as AMQP is,
	// until the restart.
	if err := h.srv.failedErr(); err != nil {
		writeAdminError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	c := &adminCall{h: h, w: w, r: r, ap: ap, base: h.baseURL(r)}
	switch {
	case r.Method == http.MethodGet:
		c.get()
	case r.Method == http.MethodPut:
		c.put()
	case r.Method == http.MethodDelete:
		c.delete()
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		writeAdminError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not supported", r.Method))
	}
}

// baseURL is the https URL the SDKs address (ids and links use it whatever
// the transport, as the JavaScript SDK parses names from their paths).
func (h *adminHandler) baseURL(r *http.Request) string { return "https://" + r.Host + "/" }

func writeAdminError(w http.ResponseWriter, code int, detail string) {
	w.Header().Set("Content-Type", ctError)
	w.WriteHeader(code)
	_, _ = w.Write(atom.Error(code, detail))
}

// adminCall is one request being served.
type adminCall struct {
	h    *adminHandler
	w    http.ResponseWriter
	r    *http.Request
	ap   adminPath
	base string
}

func (c *adminCall) version() string {
	if v := c.r.URL.Query().Get("api-version"); v != "" {
		return v
	}
	return apiVersion
}

func (c *adminCall) url(path string, query ...string) string {
	q := url.Values{}
	q.Set("api-version", c.version())
	for i := 0; i+1 < len(query); i += 2 {
		q.Set(query[i], query[i+1])
	}
	return c.base + path + "?" + q.Encode()
}

func (c *adminCall) write(code int, ct string, body []byte) {
	// A change is answered once it is durable (with DataDir), like a send.
	// When it cannot be, the emulator fails stop (durable.go): unavailable
	// until restarted.
	if c.r.Method != http.MethodGet {
		if err := c.h.srv.durable(); err != nil {
			writeAdminError(c.w, http.StatusServiceUnavailable, err.Error())
			return
		}
	}
	if ct != "" {
		c.w.Header().Set("Content-Type", ct)
	}
	c.w.WriteHeader(code)
	_, _ = c.w.Write(body)
}

// fail answers an error: broker sentinels map to the service's codes.
func (c *adminCall) fail(err error) {
	code := http.StatusInternalServerError
	var re *requestError
	switch {
	case errors.As(err, &re):
		code = re.code
	case errors.Is(err, broker.ErrInvalid), errors.Is(err, broker.ErrNotAllowed):
		code = http.StatusBadRequest
	case errors.Is(err, broker.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, broker.ErrExists):
		code = http.StatusConflict
	}
	if code == http.StatusInternalServerError {
		c.h.srv.log.Warn("admin request failed", "method", c.r.Method, "path", c.r.URL.Path, "err", err)
	}
	writeAdminError(c.w, code, err.Error())
}

func (c *adminCall) notFoundFeed() {
	c.write(http.StatusOK, ctFeed, atom.NotFoundFeed(c.url(c.ap.canonical), c.h.srv.cfg.Clock.Now()))
}

func (c *adminCall) get() {
	b := c.h.srv.broker
	switch c.ap.kind {
	case pathNamespace:
		c.write(http.StatusOK, ctEntry, c.namespaceEntry())
	case pathQueues, pathTopics, pathSubscriptions, pathRules:
		c.list()
	case pathEntity:
		addr, err := b.Resolve(c.ap.name)
		if err != nil || addr.DeadLetter || (addr.Kind != broker.KindQueue && addr.Kind != broker.KindTopic) {
			c.notFoundFeed()
			return
		}
		c.entryOf(http.StatusOK, addr.Kind, addr.Path)
	case pathSubscription:
		names, err := b.Subscriptions(c.ap.topic)
		if err != nil || !containsFold(names, c.ap.sub) {
			c.notFoundFeed()
			return
		}
		c.entryOf(http.StatusOK, broker.KindSubscription, c.ap.topic+"/Subscriptions/"+c.ap.sub)
	case pathRule:
		item, ok := c.ruleItem(c.ap.topic, c.ap.sub, c.ap.rule)
		if !ok {
			c.notFoundFeed()
			return
		}
		c.write(http.StatusOK, ctEntry, atom.Entry(item.Meta, item.Content))
	}
}

func containsFold(names []string, name string) bool {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// entryOf answers the entry of a queue, topic or subscription.
func (c *adminCall) entryOf(code int, kind broker.EntityKind, path string) {
	item, err := c.item(kind, path)
	if err != nil {
		if errors.Is(err, broker.ErrNotFound) && c.r.Method == http.MethodGet {
			c.notFoundFeed()
			return
		}
		c.fail(err)
		return
	}
	c.write(code, ctEntry, atom.Entry(item.Meta, item.Content))
}

// item renders one queue, topic or subscription ("topic/Subscriptions/sub").
func (c *adminCall) item(kind broker.EntityKind, path string) (atom.Item, error) {
	b := c.h.srv.broker
	info, err := b.EntityInfo(path)
	if err != nil {
		return atom.Item{}, err
	}
	var content atom.Elem
	title := path
	switch kind {
	case broker.KindQueue:
		cfg, err := b.QueueSettings(path)
		if err != nil {
			return atom.Item{}, err
		}
		title = cfg.Name
		content = c.queueDescription(cfg, info, extrasOf("QueueDescription", info))
	case broker.KindTopic:
		cfg, err := b.TopicSettings(path)
		if err != nil {
			return atom.Item{}, err
		}
		title = cfg.Name
		content = c.topicDescription(cfg, info, extrasOf("TopicDescription", info))
	case broker.KindSubscription:
		topic, sub, _ := strings.Cut(path, "/Subscriptions/")
		cfg, err := b.SubscriptionSettings(topic, sub)
		if err != nil {
			return atom.Item{}, err
		}
		title = cfg.Name
		path = topic + "/Subscriptions/" + cfg.Name
		content = c.subscriptionDescription(cfg, info, extrasOf("SubscriptionDescription", info))
	}
	return atom.Item{Meta: atom.EntryMeta{ID: c.url(path), Title: title, Published: info.CreatedAt,
		Updated: info.UpdatedAt, Author: c.namespaceName()}, Content: content}, nil
}

func (c *adminCall) namespaceName() string {
	host := c.r.Host
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	return host
}

// forwardURL turns a stored destination name into the absolute form the
// service reports.
func (c *adminCall) forwardURL(dest string) string {
	if dest == "" {
		return ""
	}
	return "sb://" + c.r.Host + "/" + dest
}

func optText(name, v string) []atom.Elem {
	if v == "" {
		return nil
	}
	return []atom.Elem{atom.Text(name, v)}
}

// The element groups the three descriptions share, in the service's order.

func access(info broker.Info) []atom.Elem {
	return []atom.Elem{atom.Bool("IsAnonymousAccessible", false), {Name: "AuthorizationRules"}, atom.Text("Status", info.Status.String())}
}

func stamps(info broker.Info) []atom.Elem {
	return []atom.Elem{atom.Time("CreatedAt", info.CreatedAt), atom.Time("UpdatedAt", info.UpdatedAt), atom.Time("AccessedAt", info.AccessedAt)}
}

func counts(info broker.Info) atom.Elem {
	return atom.CountDetails(info.Active, info.DeadLetter, info.Scheduled, info.Transfer, info.TransferDeadLetter)
}

// The three descriptions list their elements in the service's order for
// each type, which differs from type to type: a writer shared by queues and
// topics would switch on the type at almost every element, so each stays one
// list in its order, sharing only the groups above that stand together in
// all of them.

func (c *adminCall) queueDescription(cfg broker.QueueConfig, info broker.Info, x extras) atom.Elem {
	return atom.Desc("QueueDescription", slices.Concat(
		[]atom.Elem{
			atom.Duration("LockDuration", cfg.LockDuration),
			atom.Int("MaxSizeInMegabytes", int64(cfg.MaxSizeInMegabytes)),
			atom.Bool("RequiresDuplicateDetection", cfg.RequiresDuplicateDetection),
			atom.Bool("RequiresSession", cfg.RequiresSession),
			atom.Duration("DefaultMessageTimeToLive", cfg.DefaultMessageTimeToLive),
			atom.Bool("DeadLetteringOnMessageExpiration", cfg.DeadLetteringOnMessageExpiration),
			atom.Duration("DuplicateDetectionHistoryTimeWindow", cfg.DuplicateDetectionHistoryTimeWindow),
			atom.Int("MaxDeliveryCount", int64(cfg.MaxDeliveryCount)),
			atom.Bool("EnableBatchedOperations", x.Batched),
			atom.Int("SizeInBytes", info.SizeInBytes),
			atom.Int("MessageCount", info.Total()),
		},
		access(info),
		optText("ForwardTo", c.forwardURL(cfg.ForwardTo)),
		optText("UserMetadata", x.UserMetadata),
		stamps(info),
		[]atom.Elem{
			atom.Bool("SupportOrdering", true),
			counts(info),
			atom.Duration("AutoDeleteOnIdle", x.AutoDeleteOnIdle),
			atom.Bool("EnablePartitioning", x.Partitioning),
			atom.Text("EntityAvailabilityStatus", "Available"),
		},
		optText("ForwardDeadLetteredMessagesTo", c.forwardURL(cfg.ForwardDeadLetteredTo)),
		[]atom.Elem{atom.Bool("EnableExpress", x.Express), atom.Int("MaxMessageSizeInKilobytes", x.MaxMessageKB)},
	)...)
}

func (c *adminCall) topicDescription(cfg broker.TopicConfig, info broker.Info, x extras) atom.Elem {
	return atom.Desc("TopicDescription", slices.Concat(
		[]atom.Elem{
			atom.Duration("DefaultMessageTimeToLive", cfg.DefaultMessageTimeToLive),
			atom.Int("MaxSizeInMegabytes", int64(cfg.MaxSizeInMegabytes)),
			atom.Bool("RequiresDuplicateDetection", cfg.RequiresDuplicateDetection),
			atom.Duration("DuplicateDetectionHistoryTimeWindow", cfg.DuplicateDetectionHistoryTimeWindow),
			atom.Bool("EnableBatchedOperations", x.Batched),
			atom.Int("SizeInBytes", info.SizeInBytes),
			atom.Bool("FilteringMessagesBeforePublishing", false),
		},
		access(info),
		optText("UserMetadata", x.UserMetadata),
		stamps(info),
		[]atom.Elem{
			atom.Bool("SupportOrdering", x.SupportOrdering),
			counts(info),
			atom.Int("SubscriptionCount", int64(info.SubscriptionCount)),
			atom.Duration("AutoDeleteOnIdle", x.AutoDeleteOnIdle),
			atom.Bool("EnablePartitioning", x.Partitioning),
			atom.Text("EntityAvailabilityStatus", "Available"),
			atom.Bool("EnableSubscriptionPartitioning", false),
			atom.Bool("EnableExpress", x.Express),
			atom.Int("MaxMessageSizeInKilobytes", x.MaxMessageKB),
		},
	)...)
}

func (c *adminCall) subscriptionDescription(cfg broker.SubscriptionConfig, info broker.Info, x extras) atom.Elem {
	return atom.Desc("SubscriptionDescription", slices.Concat(
		[]atom.Elem{
			atom.Duration("LockDuration", cfg.LockDuration),
			atom.Bool("RequiresSession", cfg.RequiresSession),
			atom.Duration("DefaultMessageTimeToLive", cfg.DefaultMessageTimeToLive),
			atom.Bool("DeadLetteringOnMessageExpiration", cfg.DeadLetteringOnMessageExpiration),
			atom.Bool("DeadLetteringOnFilterEvaluationExceptions", x.DLQOnFilterErrors),
			atom.Int("MessageCount", info.Total()),
			atom.Int("MaxDeliveryCount", int64(cfg.MaxDeliveryCount)),
			atom.Bool("EnableBatchedOperations", x.Batched),
			atom.Text("Status", info.Status.String()),
		},
		optText("ForwardTo", c.forwardURL(cfg.ForwardTo)),
		optText("UserMetadata", x.UserMetadata),
		stamps(info),
		[]atom.Elem{counts(info), atom.Duration("AutoDeleteOnIdle", x.AutoDeleteOnIdle)},
		optText("ForwardDeadLetteredMessagesTo", c.forwardURL(cfg.ForwardDeadLetteredTo)),
		[]atom.Elem{atom.Text("EntityAvailabilityStatus", "Available")},
	)...)
}

func (c *adminCall) namespaceEntry() []byte {
	ns := c.namespaceName()
	start := c.h.start
	info := atom.Desc("NamespaceInfo",
		atom.Time("CreatedTime", start),
		atom.Text("MessagingSKU", "Standard"),
		atom.Int("MessagingUnits", 0),
		atom.Time("ModifiedTime", start),
		atom.Text("Name", ns),
		atom.Text("NamespaceType", "Messaging"),
	)
	return atom.Entry(atom.EntryMeta{ID: c.url("$namespaceinfo"), Title: ns, Published: start, Updated: start, Author: ns}, info)
}

// page reads $skip and $top.
func (c *adminCall) page() (skip, top int, err error) {
	q := c.r.URL.Query()
	skip, top = 0, adminDefaultTop
	if v := q.Get("$skip"); v != "" {
		if skip, err = strconv.Atoi(v); err != nil || skip < 0 {
			return 0, 0, adminBadRequest("$skip %q is not a non-negative integer", v)
		}
	}
	if v := q.Get("$top"); v != "" {
		if top, err = strconv.Atoi(v); err != nil || top < 1 {
			return 0, 0, adminBadRequest("$top %q is not a positive integer", v)
		}
		top = min(top, adminMaxTop)
	}
	return skip, top, nil
}

func (c *adminCall) list() {
	skip, top, err := c.page()
	if err != nil {
		c.fail(err)
		return
	}
	b := c.h.srv.broker
	var names []string
	var title string
	switch c.ap.kind {
	case pathQueues:
		names, title = b.Queues(), "Queues"
	case pathTopics:
		names, title = b.Topics(), "Topics"
	case pathSubscriptions:
		title = "Subscriptions"
		if names, err = b.Subscriptions(c.ap.topic); err != nil {
			c.fail(err)
			return
		}
	case pathRules:
		title = "Rules"
		rules, err := b.Rules(c.ap.topic, c.ap.sub)
		if err != nil {
			c.fail(err)
			return
		}
		for _, r := range rules {
			names = append(names, r.Name)
		}
	}
	total := len(names)
	names = names[min(skip, total):min(skip+top, total)]
	var items []atom.Item
	for _, n := range names {
		var it atom.Item
		var err error
		switch c.ap.kind {
		case pathQueues:
			it, err = c.item(broker.KindQueue, n)
		case pathTopics:
			it, err = c.item(broker.KindTopic, n)
		case pathSubscriptions:
			it, err = c.item(broker.KindSubscription, c.ap.topic+"/Subscriptions/"+n)
		case pathRules:
			var ok bool
			if it, ok = c.ruleItem(c.ap.topic, c.ap.sub, n); !ok {
				err = broker.ErrNotFound
			}
		}
		if errors.Is(err, broker.ErrNotFound) {
			continue // deleted while listing
		}
		if err != nil {
			c.fail(err)
			return
		}
		items = append(items, it)
	}
	next := ""
	if skip+top < total {
		next = c.url(c.ap.canonical, "$skip", strconv.Itoa(skip+top), "$top", strconv.Itoa(top))
	}
	c.write(http.StatusOK, ctFeed, atom.Feed(title, c.url(c.ap.canonical), next, c.h.srv.cfg.Clock.Now(), items))
}

// body reads and parses the request's description, bounded in size.
func (c *adminCall) body() (*atom.Description, error) {
	data, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, adminMaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &requestError{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("the request body is larger than %d bytes", adminMaxBody)}
		}
		return nil, adminBadRequest("reading the request body: %v", err)
	}
	d, err := atom.Parse(data)
	if err != nil {
		return nil, adminBadRequest("%v", err)
	}
	return d, nil
}

func (c *adminCall) put() {
	d, err := c.body()
	if err != nil {
		c.fail(err)
		return
	}
	update := c.r.Header.Get("If-Match") != ""
	if update && c.r.Header.Get("If-Match") != "*" {
		c.fail(adminBadRequest("If-Match %q: only * is supported", c.r.Header.Get("If-Match")))
		return
	}
	want := map[pathKind][]string{
		pathEntity:       {"QueueDescription", "TopicDescription"},
		pathSubscription: {"SubscriptionDescription"},
		pathRule:         {"RuleDescription"},
	}[c.ap.kind]
	if !containsFold(want, d.Kind) {
		c.fail(adminBadRequest("a %s cannot be put at %s", d.Kind, c.ap.canonical))
		return
	}
	if !update {
		if err := c.ap.checkNames(); err != nil {
			c.fail(err)
			return
		}
	}
	switch d.Kind {
	case "QueueDescription":
		c.putQueue(d, update)
	case "TopicDescription":
		c.putTopic(d, update)
	case "SubscriptionDescription":
		c.putSubscription(d, update)
	case "RuleDescription":
		c.putRule(d, update)
	}
}

func (c *adminCall) delete() {
	b := c.h.srv.broker
	switch c.ap.kind {
	case pathEntity, pathSubscription:
		path := c.ap.name
		if c.ap.kind == pathSubscription {
			path = c.ap.topic + "/Subscriptions/" + c.ap.sub
		}
		addr, err := b.Resolve(path)
		if err == nil && addr.DeadLetter {
			err = fmt.Errorf("%s: %w", path, broker.ErrNotFound)
		}
		if err == nil {
			err = b.Delete(path)
		}
		if err != nil {
			c.fail(err)
			return
		}
	case pathRule:
		if err := b.RemoveRule(c.ap.topic, c.ap.sub, c.ap.rule); err != nil {
			c.fail(err)
			return
		}
	default:
		c.fail(adminBadRequest("%s cannot be deleted", c.ap.canonical))
		return
	}
	c.write(http.StatusOK, "", nil)
}

// AdminConnectionString is a connection string for the SDKs' administration
// clients: the HTTP address as Endpoint, with the same key as
// ConnectionString. The SDKs address it with https; see the README for the
// transport that makes them use plain HTTP. "" when HTTP is disabled.
func (s *Server) AdminConnectionString() string {
	if s.HTTPAddr() == "" {
		return ""
	}
	name, key := s.firstKey()
	return fmt.Sprintf("Endpoint=sb://%s;SharedAccessKeyName=%s;SharedAccessKey=%s;UseDevelopmentEmulator=true;",
		s.HTTPAddr(), name, key)
}

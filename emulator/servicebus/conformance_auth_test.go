package servicebus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/go-amqp"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/auth"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/frames"
)

// Authorization as Service Bus does it, checked with go-amqp: links and $management operations
// need a CBS token for their entity with the right claim (docs/servicebus-auth.md).

const unauthorized = amqp.ErrCond("amqp:unauthorized-access")

// rpcCall sends one request to node ($cbs or <entity>/$management) on a fresh link pair of s and
// returns the response's status code, description and message.
func rpcCall(ctx context.Context, s *amqp.Session, node string, props map[string]any, value any) (int32, string, *amqp.Message, error) {
	reply := node + "-reply-" + uuid.NewString()
	snd, err := s.NewSender(ctx, node, nil)
	if err != nil {
		return 0, "", nil, fmt.Errorf("attaching to %s: %w", node, err)
	}
	defer snd.Close(context.Background())
	rcv, err := s.NewReceiver(ctx, node, &amqp.ReceiverOptions{TargetAddress: reply, SettlementMode: amqp.ReceiverSettleModeFirst.Ptr()})
	if err != nil {
		return 0, "", nil, fmt.Errorf("attaching from %s: %w", node, err)
	}
	defer rcv.Close(context.Background())
	id := uuid.NewString()
	msg := &amqp.Message{Properties: &amqp.MessageProperties{MessageID: id, ReplyTo: &reply}, ApplicationProperties: props, Value: value}
	if err := snd.Send(ctx, msg, nil); err != nil {
		return 0, "", nil, fmt.Errorf("sending to %s: %w", node, err)
	}
	resp, err := rcv.Receive(ctx, nil)
	if err != nil {
		return 0, "", nil, fmt.Errorf("receiving from %s: %w", node, err)
	}
	code, _ := resp.ApplicationProperties["status-code"].(int32)
	desc, _ := resp.ApplicationProperties["status-description"].(string)
	return code, desc, resp, nil
}

// putToken puts a token on $cbs for audience and returns the status code.
func putToken(t *testing.T, ctx context.Context, s *amqp.Session, tokenType, token, audience string) (int32, string) {
	t.Helper()
	code, desc, _, err := rpcCall(ctx, s, "$cbs", map[string]any{"operation": "put-token", "type": tokenType, "name": audience}, token)
	if err != nil {
		t.Fatal(err)
	}
	return code, desc
}

// authorizedSession opens a SASL ANONYMOUS connection to srv, as the SDKs do, puts a SAS token of
// the default policy for each entity (or the namespace when none is given) and returns a session.
func authorizedSession(t *testing.T, ctx context.Context, srv *servicebus.Server, entities ...string) *amqp.Session {
	t.Helper()
	s := anonymousSession(t, ctx, srv)
	if len(entities) == 0 {
		entities = []string{""}
	}
	for _, e := range entities {
		aud := "amqp://" + srv.AMQPAddr() + "/" + e
		if code, desc := putToken(t, ctx, s, auth.TypeSAS, auth.SignSAS(servicebus.DefaultKeyName, servicebus.DefaultKey, aud, time.Now().Add(time.Hour)), aud); code != 200 {
			t.Fatalf("put-token for %q: %d %s", aud, code, desc)
		}
	}
	return s
}

// anonymousSession opens a SASL ANONYMOUS connection without tokens and returns a session.
func anonymousSession(t *testing.T, ctx context.Context, srv *servicebus.Server) *amqp.Session {
	t.Helper()
	c, err := amqp.Dial(ctx, "amqp://"+srv.AMQPAddr(), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	s, err := c.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type authBundle struct {
	srv    *servicebus.Server
	ctx    context.Context
	queue  string
	topic  string
	sub    string // topic/Subscriptions/s
	keyAud func(entity string) string
}

const (
	sendKeyName   = "sender"
	sendKey       = "send-key"
	listenKeyName = "listener"
	listenKey     = "listen-key"
)

func setupAuth(t *testing.T, cfg servicebus.Config) authBundle {
	t.Helper()
	if cfg.Policies == nil {
		cfg.Policies = []servicebus.SharedAccessPolicy{
			{Name: servicebus.DefaultKeyName, PrimaryKey: servicebus.DefaultKey, Rights: auth.All},
			{Name: sendKeyName, PrimaryKey: sendKey, Rights: auth.Send},
			{Name: listenKeyName, PrimaryKey: listenKey, Rights: auth.Listen},
		}
	}
	cfg.HTTPAddr = "-"
	srv, ctx := startServer(t, cfg)
	stopAtCleanup(t, srv)
	b := authBundle{srv: srv, ctx: ctx, queue: uniqueName(t), topic: uniqueName(t)}
	b.sub = b.topic + "/Subscriptions/s"
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: b.queue}); err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateTopic(servicebus.TopicConfig{Name: b.topic}); err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateSubscription(b.topic, servicebus.SubscriptionConfig{Name: "s"}); err != nil {
		t.Fatal(err)
	}
	b.keyAud = func(entity string) string { return "amqp://" + srv.AMQPAddr() + "/" + entity }
	return b
}

func (b authBundle) sas(keyName, key, entity string, expires time.Time) string {
	return auth.SignSAS(keyName, key, b.keyAud(entity), expires)
}

// expectUnauthorizedAttach checks that a sender (send=true) or receiver on addr is refused with
// amqp:unauthorized-access.
func expectUnauthorizedAttach(t *testing.T, ctx context.Context, s *amqp.Session, addr string, send bool) {
	t.Helper()
	var err error
	if send {
		var l *amqp.Sender
		if l, err = s.NewSender(ctx, addr, nil); err == nil {
			err = l.Send(ctx, amqp.NewMessage([]byte("x")), nil)
		}
	} else {
		var l *amqp.Receiver
		if l, err = s.NewReceiver(ctx, addr, nil); err == nil {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err = l.Receive(rctx, nil)
			cancel()
		}
	}
	if amqpCondition(err) != unauthorized {
		t.Fatalf("attach to %q (send=%v): %v, want %s", addr, send, err, unauthorized)
	}
}

func TestAttachWithoutTokenIsUnauthorized(t *testing.T) {
	t.Parallel()
	b := setupAuth(t, servicebus.Config{})
	s := anonymousSession(t, b.ctx, b.srv)
	expectUnauthorizedAttach(t, b.ctx, s, b.queue, true)
	expectUnauthorizedAttach(t, b.ctx, s, b.queue, false)
	expectUnauthorizedAttach(t, b.ctx, s, b.topic, true)
	expectUnauthorizedAttach(t, b.ctx, s, b.sub, false)
	expectUnauthorizedAttach(t, b.ctx, s, b.queue+"/$DeadLetterQueue", false)
	// A session receiver too.
	_, err := s.NewReceiver(b.ctx, b.queue, &amqp.ReceiverOptions{Filters: []amqp.LinkFilter{
		amqp.NewLinkFilter("com.microsoft:session-filter", 0x00000137000000C, "sid")}})
	if amqpCondition(err) != unauthorized {
		t.Fatalf("session receiver without token: %v", err)
	}
	// And $management.
	_, _, _, err = rpcCall(b.ctx, s, b.queue+"/$management", map[string]any{"operation": "com.microsoft:peek-message"},
		map[string]any{"from-sequence-number": int64(1), "message-count": int32(1)})
	if amqpCondition(err) != unauthorized {
		t.Fatalf("$management without token: %v", err)
	}
}

func TestBadTokensAreRefused(t *testing.T) {
	t.Parallel()
	b := setupAuth(t, servicebus.Config{})
	hour := time.Now().Add(time.Hour)
	cases := []struct {
		name, token, audience string
	}{
		{"expired", b.sas(servicebus.DefaultKeyName, servicebus.DefaultKey, b.queue, time.Now().Add(-time.Second)), b.keyAud(b.queue)},
		{"wrong key", b.sas(servicebus.DefaultKeyName, "wrong", b.queue, hour), b.keyAud(b.queue)},
		{"unknown key name", b.sas("nobody", servicebus.DefaultKey, b.queue, hour), b.keyAud(b.queue)},
		{"token for another entity", b.sas(servicebus.DefaultKeyName, servicebus.DefaultKey, b.topic, hour), b.keyAud(b.queue)},
		{"not a token", "hello", b.keyAud(b.queue)},
	}
	var descs []string
	for _, c := range cases {
		s := anonymousSession(t, b.ctx, b.srv)
		code, desc := putToken(t, b.ctx, s, auth.TypeSAS, c.token, c.audience)
		if code != 401 {
			t.Errorf("%s: put-token %d %s, want 401", c.name, code, desc)
		}
		descs = append(descs, desc)
		expectUnauthorizedAttach(t, b.ctx, s, b.queue, true)
	}
	if descs[1] != descs[2] || strings.Contains(descs[2], "nobody") {
		t.Errorf("wrong key %q and unknown key name %q are distinguishable", descs[1], descs[2])
	}
	// A JWT is refused unless the emulator accepts unverified JWTs.
	s := anonymousSession(t, b.ctx, b.srv)
	tok := entraToken(t, "https://servicebus.azure.net", time.Now().Add(time.Hour))
	if code, desc := putToken(t, b.ctx, s, auth.TypeJWT, tok, b.keyAud(b.queue)); code != 401 {
		t.Fatalf("jwt by default: %d %s, want 401", code, desc)
	}
	expectUnauthorizedAttach(t, b.ctx, s, b.queue, true)
}

func TestTokenForOtherEntityDoesNotAuthorize(t *testing.T) {
	t.Parallel()
	b := setupAuth(t, servicebus.Config{})
	a, ab := uniqueName(t)+"-probe-a", ""
	ab = a + "b"
	for _, q := range []string{a, ab} {
		if err := b.srv.CreateQueue(servicebus.QueueConfig{Name: q}); err != nil {
			t.Fatal(err)
		}
	}
	s := authorizedSession(t, b.ctx, b.srv, a)
	// Whole segments: a token for probe-a covers probe-a, not probe-ab.
	if _, err := s.NewSender(b.ctx, a, nil); err != nil {
		t.Fatalf("sender covered by the token: %v", err)
	}
	expectUnauthorizedAttach(t, b.ctx, s, ab, true)
	expectUnauthorizedAttach(t, b.ctx, s, b.queue, false)
	// A topic token covers its subscriptions; a subscription token does not cover the topic.
	s2 := authorizedSession(t, b.ctx, b.srv, b.sub)
	if _, err := s2.NewReceiver(b.ctx, b.sub, nil); err != nil {
		t.Fatalf("receiver covered by the token: %v", err)
	}
	expectUnauthorizedAttach(t, b.ctx, s2, b.topic, true)
	s3 := authorizedSession(t, b.ctx, b.srv, b.topic)
	if _, err := s3.NewReceiver(b.ctx, b.sub, nil); err != nil {
		t.Fatalf("subscription under the topic's token: %v", err)
	}
	// A namespace token covers every entity.
	s4 := authorizedSession(t, b.ctx, b.srv)
	for _, q := range []string{a, ab, b.queue, b.topic} {
		if _, err := s4.NewSender(b.ctx, q, nil); err != nil {
			t.Fatalf("namespace token, sender to %s: %v", q, err)
		}
	}
}

func TestClaimsAreChecked(t *testing.T) {
	t.Parallel()
	b := setupAuth(t, servicebus.Config{})
	hour := time.Now().Add(time.Hour)
	send := anonymousSession(t, b.ctx, b.srv)
	if code, desc := putToken(t, b.ctx, send, auth.TypeSAS, b.sas(sendKeyName, sendKey, b.queue, hour), b.keyAud(b.queue)); code != 200 {
		t.Fatalf("put-token: %d %s", code, desc)
	}
	snd, err := send.NewSender(b.ctx, b.queue, nil)
	if err != nil {
		t.Fatalf("Send claim, sender: %v", err)
	}
	if err := snd.Send(b.ctx, amqp.NewMessage([]byte("x")), nil); err != nil {
		t.Fatal(err)
	}
	expectUnauthorizedAttach(t, b.ctx, send, b.queue, false)
	code, _, _, err := rpcCall(b.ctx, send, b.queue+"/$management", map[string]any{"operation": "com.microsoft:peek-message"},
		map[string]any{"from-sequence-number": int64(1), "message-count": int32(1)})
	if err != nil || code != 401 {
		t.Fatalf("peek with only Send: %d %v, want 401", code, err)
	}

	listen := anonymousSession(t, b.ctx, b.srv)
	if code, desc := putToken(t, b.ctx, listen, auth.TypeSAS, b.sas(listenKeyName, listenKey, b.queue, hour), b.keyAud(b.queue)); code != 200 {
		t.Fatalf("put-token: %d %s", code, desc)
	}
	expectUnauthorizedAttach(t, b.ctx, listen, b.queue, true)
	rcv, err := listen.NewReceiver(b.ctx, b.queue, &amqp.ReceiverOptions{Credit: 1})
	if err != nil {
		t.Fatalf("Listen claim, receiver: %v", err)
	}
	if _, err := rcv.Receive(b.ctx, nil); err != nil {
		t.Fatal(err)
	}
	code, _, _, err = rpcCall(b.ctx, listen, b.queue+"/$management", map[string]any{"operation": "com.microsoft:peek-message"},
		map[string]any{"from-sequence-number": int64(1), "message-count": int32(1)})
	if err != nil || code != 200 {
		t.Fatalf("peek with Listen: %d %v", code, err)
	}
	code, _, _, err = rpcCall(b.ctx, listen, b.queue+"/$management", map[string]any{"operation": "com.microsoft:cancel-scheduled-message"},
		map[string]any{"sequence-numbers": []int64{1}})
	if err != nil || code != 401 {
		t.Fatalf("cancel-scheduled with only Listen: %d %v, want 401", code, err)
	}
	if code, desc := putToken(t, b.ctx, listen, auth.TypeSAS, b.sas(listenKeyName, listenKey, b.sub, hour), b.keyAud(b.sub)); code != 200 {
		t.Fatalf("put-token: %d %s", code, desc)
	}
	code, _, _, err = rpcCall(b.ctx, listen, b.sub+"/$management", map[string]any{"operation": "com.microsoft:enumerate-rules"},
		map[string]any{"top": int32(10), "skip": int32(0)})
	if err != nil || code != 401 {
		t.Fatalf("enumerate-rules with only Listen: %d %v, want 401", code, err)
	}
}

func TestEntityPolicy(t *testing.T) {
	t.Parallel()
	q := uniqueName(t)
	b := setupAuth(t, servicebus.Config{Policies: []servicebus.SharedAccessPolicy{
		{Name: servicebus.DefaultKeyName, PrimaryKey: servicebus.DefaultKey, Rights: auth.All},
		{Name: "q-send", PrimaryKey: "qk", Rights: auth.Send, Entity: q},
	}})
	if err := b.srv.CreateQueue(servicebus.QueueConfig{Name: q}); err != nil {
		t.Fatal(err)
	}
	hour := time.Now().Add(time.Hour)
	s := anonymousSession(t, b.ctx, b.srv)
	if code, _ := putToken(t, b.ctx, s, auth.TypeSAS, b.sas("q-send", "qk", q, hour), b.keyAud(q)); code != 200 {
		t.Fatalf("entity policy on its entity: %d", code)
	}
	if code, _ := putToken(t, b.ctx, s, auth.TypeSAS, b.sas("q-send", "qk", b.queue, hour), b.keyAud(b.queue)); code != 401 {
		t.Fatalf("entity policy on another entity: %d, want 401", code)
	}
	if _, err := s.NewSender(b.ctx, q, nil); err != nil {
		t.Fatal(err)
	}
	expectUnauthorizedAttach(t, b.ctx, s, b.queue, true)
}

func TestLinkDetachedWhenTokenExpires(t *testing.T) {
	t.Parallel()
	b := setupAuth(t, servicebus.Config{})
	// SAS expiry has one-second resolution: expire two seconds from now.
	s := anonymousSession(t, b.ctx, b.srv)
	exp := time.Now().Add(2 * time.Second)
	if code, desc := putToken(t, b.ctx, s, auth.TypeSAS, b.sas(servicebus.DefaultKeyName, servicebus.DefaultKey, b.queue, exp), b.keyAud(b.queue)); code != 200 {
		t.Fatalf("put-token: %d %s", code, desc)
	}
	rcv, err := s.NewReceiver(b.ctx, b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A renewed token keeps the other connection's link.
	renewed := anonymousSession(t, b.ctx, b.srv)
	if code, _ := putToken(t, b.ctx, renewed, auth.TypeSAS, b.sas(servicebus.DefaultKeyName, servicebus.DefaultKey, b.queue, exp), b.keyAud(b.queue)); code != 200 {
		t.Fatal("put-token")
	}
	kept, err := renewed.NewReceiver(b.ctx, b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := putToken(t, b.ctx, renewed, auth.TypeSAS, b.sas(servicebus.DefaultKeyName, servicebus.DefaultKey, b.queue, time.Now().Add(time.Hour)), b.keyAud(b.queue)); code != 200 {
		t.Fatal("renewing put-token")
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	_, err = rcv.Receive(ctx, nil)
	var le *amqp.LinkError
	if !errors.As(err, &le) || amqpCondition(err) != unauthorized {
		t.Fatalf("receive after expiry: %v, want a detach with %s", err, unauthorized)
	}
	if time.Now().Before(time.Unix(exp.Unix(), 0)) {
		t.Fatalf("detached before the token expired")
	}
	snd, err := authorizedSession(t, b.ctx, b.srv, b.queue).NewSender(b.ctx, b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(b.ctx, amqp.NewMessage([]byte("still here")), nil); err != nil {
		t.Fatal(err)
	}
	m, err := kept.Receive(ctx, nil)
	if err != nil || string(m.GetData()) != "still here" {
		t.Fatalf("renewed link: %v", err)
	}
}

func entraToken(t *testing.T, aud string, exp time.Time) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"aud": aud, "exp": exp.Unix()}).SignedString([]byte("unverified"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUnverifiedJWT(t *testing.T) {
	t.Parallel()
	b := setupAuth(t, servicebus.Config{AcceptUnverifiedJWT: true})
	hour := time.Now().Add(time.Hour)
	cases := []struct {
		name  string
		token string
		want  int32
	}{
		{"entra audience", entraToken(t, "https://servicebus.azure.net", hour), 200},
		{"namespace audience", entraToken(t, "https://127.0.0.1/", hour), 200},
		{"other audience", entraToken(t, "https://vault.azure.net", hour), 401},
		{"expired", entraToken(t, "https://servicebus.azure.net", time.Now().Add(-time.Minute)), 401},
		{"not a jwt", "abc", 401},
	}
	for _, c := range cases {
		s := anonymousSession(t, b.ctx, b.srv)
		if code, desc := putToken(t, b.ctx, s, auth.TypeJWT, c.token, b.keyAud(b.queue)); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, desc, c.want)
		}
		if c.want == 200 {
			if _, err := s.NewSender(b.ctx, b.queue, nil); err != nil {
				t.Errorf("%s: attach: %v", c.name, err)
			}
		} else {
			expectUnauthorizedAttach(t, b.ctx, s, b.queue, true)
		}
	}
}

func TestSASLPlainAuthorizesConnection(t *testing.T) {
	t.Parallel()
	b := setupAuth(t, servicebus.Config{})
	c, err := amqp.Dial(b.ctx, "amqp://"+b.srv.AMQPAddr(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain(sendKeyName, sendKey)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.NewSession(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewSender(b.ctx, b.queue, nil); err != nil {
		t.Fatalf("PLAIN with a Send policy, sender: %v", err)
	}
	expectUnauthorizedAttach(t, b.ctx, s, b.queue, false)
	if _, err := amqp.Dial(b.ctx, "amqp://"+b.srv.AMQPAddr(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("nobody", sendKey)}); err == nil {
		t.Fatal("PLAIN with an unknown key name was accepted")
	}
}

func TestSASLIsRequired(t *testing.T) {
	t.Parallel()
	b := setupAuth(t, servicebus.Config{})
	nc, err := net.Dial("tcp", b.srv.AMQPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	open, _ := frames.Append(nil, frames.TypeAMQP, 0, &frames.Open{ContainerID: "no-sasl"}, nil)
	if _, err := nc.Write(append(frames.ProtoAMQP[:], open...)); err != nil {
		t.Fatal(err)
	}
	// The spec's answer to a header the server does not accept: its own header, then close.
	got, err := io.ReadAll(nc)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(frames.ProtoSASL[:]) {
		t.Fatalf("server answered % x to a client without SASL, want the SASL header and EOF", got)
	}
}

func TestAllowAnonymous(t *testing.T) {
	t.Parallel()
	b := setupAuth(t, servicebus.Config{AllowAnonymous: true})
	s := anonymousSession(t, b.ctx, b.srv)
	snd, err := s.NewSender(b.ctx, b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(b.ctx, amqp.NewMessage([]byte("anon")), nil); err != nil {
		t.Fatal(err)
	}
	code, _, _, err := rpcCall(b.ctx, s, b.queue+"/$management", map[string]any{"operation": "com.microsoft:peek-message"},
		map[string]any{"from-sequence-number": int64(1), "message-count": int32(1)})
	if err != nil || code != 200 {
		t.Fatalf("peek: %d %v", code, err)
	}
	// Without SASL at all.
	nc, err := net.Dial("tcp", b.srv.AMQPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(frames.ProtoAMQP[:]); err != nil {
		t.Fatal(err)
	}
	var hdr [8]byte
	if _, err := io.ReadFull(nc, hdr[:]); err != nil || hdr != frames.ProtoAMQP {
		t.Fatalf("header % x, %v: want the AMQP header", hdr, err)
	}
	// Bad tokens are still refused on $cbs.
	if code, _ := putToken(t, b.ctx, s, auth.TypeSAS, "junk", b.keyAud(b.queue)); code != 401 {
		t.Fatalf("put-token junk: %d", code)
	}
}

func TestServerAuthorize(t *testing.T) {
	t.Parallel()
	b := setupAuth(t, servicebus.Config{})
	url := "http://" + b.srv.AMQPAddr() + "/" + b.queue + "?api-version=2021-05"
	hour := time.Now().Add(time.Hour)
	if err := b.srv.Authorize(auth.SignSAS(servicebus.DefaultKeyName, servicebus.DefaultKey, url, hour), url, servicebus.Manage); err != nil {
		t.Fatalf("root key, Manage: %v", err)
	}
	if err := b.srv.Authorize(auth.SignSAS(sendKeyName, sendKey, url, hour), url, servicebus.Manage); !errors.Is(err, auth.ErrMissingRight) {
		t.Fatalf("Send key, Manage: %v", err)
	}
	if err := b.srv.Authorize("", url, servicebus.Listen); !errors.Is(err, auth.ErrNoToken) {
		t.Fatalf("no token: %v", err)
	}
	open := setupAuth(t, servicebus.Config{AllowAnonymous: true})
	if err := open.srv.Authorize("", url, servicebus.Manage); err != nil {
		t.Fatalf("AllowAnonymous: %v", err)
	}
}

// TestSDKWithLimitedPolicies uses the Go SDK with policies that lack claims: the attach refusal
// reaches the application as CodeUnauthorizedAccess, and what the policy allows works.
func TestSDKWithLimitedPolicies(t *testing.T) {
	t.Parallel()
	b := setupAuth(t, servicebus.Config{})
	connStr := func(name, key string) string {
		return "Endpoint=sb://" + b.srv.AMQPAddr() + ";SharedAccessKeyName=" + name + ";SharedAccessKey=" + key + ";UseDevelopmentEmulator=true;"
	}
	listener, err := azservicebus.NewClientFromConnectionString(connStr(listenKeyName, listenKey), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(context.Background())
	sender, err := azservicebus.NewClientFromConnectionString(connStr(sendKeyName, sendKey), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close(context.Background())

	ls, err := listener.NewSender(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ls.SendMessage(b.ctx, &azservicebus.Message{Body: []byte("x")}, nil); sbCode(err) != azservicebus.CodeUnauthorizedAccess {
		t.Fatalf("send with a Listen policy: %v, want CodeUnauthorizedAccess", err)
	}
	ss, err := sender.NewSender(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ss.SendMessage(b.ctx, &azservicebus.Message{Body: []byte("ok")}, nil); err != nil {
		t.Fatalf("send with a Send policy: %v", err)
	}
	sr, err := sender.NewReceiverForQueue(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sr.ReceiveMessages(b.ctx, 1, nil); sbCode(err) != azservicebus.CodeUnauthorizedAccess {
		t.Fatalf("receive with a Send policy: %v, want CodeUnauthorizedAccess", err)
	}
	lr, err := listener.NewReceiverForQueue(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := receiveN(t, b.ctx, lr, 1)
	if string(msgs[0].Body) != "ok" {
		t.Fatalf("received %q", msgs[0].Body)
	}
	if err := lr.CompleteMessage(b.ctx, msgs[0], nil); err != nil {
		t.Fatal(err)
	}
}

// TestAuthFileReplacesRootKey: a policy file entry named like a configured policy replaces it, so
// the root key can be changed; the connection string follows.
func TestAuthFileReplacesRootKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "policies.json")
	if err := os.WriteFile(path, []byte(`{"SharedAccessPolicies": [
		{"Name": "RootManageSharedAccessKey", "PrimaryKey": "rotated", "Rights": ["Manage", "Send", "Listen"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, ctx := startServer(t, servicebus.Config{HTTPAddr: "-", AuthPath: path})
	stopAtCleanup(t, srv)
	if !strings.Contains(srv.ConnectionString(), "SharedAccessKey=rotated;") {
		t.Fatalf("connection string %q does not carry the rotated key", srv.ConnectionString())
	}
	s := anonymousSession(t, ctx, srv)
	aud := "amqp://" + srv.AMQPAddr() + "/"
	if code, _ := putToken(t, ctx, s, auth.TypeSAS, auth.SignSAS(servicebus.DefaultKeyName, servicebus.DefaultKey, aud, time.Now().Add(time.Hour)), aud); code != 401 {
		t.Fatalf("old root key: %d, want 401", code)
	}
	if code, _ := putToken(t, ctx, s, auth.TypeSAS, auth.SignSAS(servicebus.DefaultKeyName, "rotated", aud, time.Now().Add(time.Hour)), aud); code != 200 {
		t.Fatalf("rotated root key: %d, want 200", code)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"SharedAccessPolicies": [{"Name": "x", "PrimaryKey": "k", "Rights": ["Write"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if srv, err := servicebus.Start(ctx, servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", AuthPath: bad}); err == nil {
		_ = srv.Stop(ctx)
		t.Fatal("a bad policy file was accepted")
	} else if !strings.Contains(err.Error(), `claim "Write"`) {
		t.Fatalf("bad policy file: %v", err)
	}
}

// TestConnectionWithoutTokenIsClosed: a connection that puts no valid token within TokenTimeout
// is closed with amqp:unauthorized-access; one that put a token, or logged in with PLAIN, stays.
func TestConnectionWithoutTokenIsClosed(t *testing.T) {
	t.Parallel()
	b := setupAuth(t, servicebus.Config{TokenTimeout: 300 * time.Millisecond})
	dial := func(sasl amqp.SASLType) *amqp.Conn {
		c, err := amqp.Dial(b.ctx, "amqp://"+b.srv.AMQPAddr(), &amqp.ConnOptions{SASLType: sasl})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	idle := dial(amqp.SASLTypeAnonymous())
	bad := dial(amqp.SASLTypeAnonymous())
	bs, err := bad.NewSession(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := putToken(t, b.ctx, bs, auth.TypeSAS, "junk", b.keyAud(b.queue)); code != 401 {
		t.Fatalf("junk token: %d", code)
	}
	good := dial(amqp.SASLTypeAnonymous())
	gs, err := good.NewSession(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := putToken(t, b.ctx, gs, auth.TypeSAS, b.sas(servicebus.DefaultKeyName, servicebus.DefaultKey, b.queue, time.Now().Add(time.Hour)), b.keyAud(b.queue)); code != 200 {
		t.Fatalf("token: %d", code)
	}
	plain := dial(amqp.SASLTypePlain(listenKeyName, listenKey))

	for name, c := range map[string]*amqp.Conn{"no token": idle, "only a bad token": bad} {
		select {
		case <-c.Done():
			if amqpCondition(c.Err()) != unauthorized {
				t.Errorf("%s: closed with %v, want %s", name, c.Err(), unauthorized)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: still open 10 s after the token timeout", name)
		}
	}
	time.Sleep(500 * time.Millisecond) // well past the timeout of the connections opened after idle's
	for name, c := range map[string]*amqp.Conn{"token": good, "PLAIN": plain} {
		select {
		case <-c.Done():
			t.Errorf("%s: closed: %v", name, c.Err())
		default:
		}
		s, err := c.NewSession(b.ctx, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := s.NewReceiver(b.ctx, b.queue, nil); err != nil {
			t.Fatalf("%s: receiver after the token timeout: %v", name, err)
		}
	}
}

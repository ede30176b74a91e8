package servicebus

import (
	"fmt"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/auth"

	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/frames"
)

// Wire behaviour a uamqp-based client relies on (issue 12, findings 6 to 8), scripted as
// uamqp-c sends it: requests with only a message-id, addresses as URIs, and the request's
// outcome expected before its response.

// putTokenRequest is a put-token request; without replyTo it carries only a message-id, as
// uamqp-c sends it.
func putTokenRequest(id, replyTo, audience string) []byte {
	b := enc.AppendDescriptor(nil, secProperties)
	if replyTo == "" {
		b, _ = enc.AppendList(b, []any{id})
	} else {
		b, _ = enc.AppendList(b, []any{id, nil, nil, nil, replyTo})
	}
	b = enc.AppendDescriptor(b, secApplicationProps)
	b, _ = enc.AppendMap(b, enc.Map{{Key: "operation", Value: "put-token"}, {Key: "type", Value: auth.TypeSAS}, {Key: "name", Value: audience}})
	b = enc.AppendDescriptor(b, secValue)
	return enc.AppendString(b, auth.SignSAS(DefaultKeyName, DefaultKey, audience, time.Now().Add(time.Hour)))
}

// response decodes a $cbs or $management response: its correlation-id and status code.
func decodeResponse(t *testing.T, payload []byte) (any, int32) {
	t.Helper()
	p, err := parseMessage(payload)
	if err != nil {
		t.Fatalf("response: %v", err)
	}
	code, _ := p.msg.ApplicationProperties["status-code"].(int32)
	return p.msg.Properties.CorrelationID, code
}

// serverHandle is the handle the server gave the link named name.
func (p *peer) serverHandle(name string) uint32 {
	p.t.Helper()
	for _, f := range p.all(isType[*frames.Attach]) {
		if a := f.p.(*frames.Attach); a.Name == name {
			return a.Handle
		}
	}
	p.t.Fatalf("no attach of %s", name)
	return 0
}

// Findings 6 and 8: put-tokens without reply-to (uamqp) are answered on the $cbs receiver link;
// with or without reply-to, each response follows its request's disposition on the wire.
func TestCBSAnsweredAfterDisposition(t *testing.T) {
	t.Parallel()
	for _, replyTo := range []string{"", "cbs-reply-target"} {
		t.Run("reply-to="+replyTo, func(t *testing.T) {
			t.Parallel()
			testCBSOrder(t, replyTo)
		})
	}
}

func testCBSOrder(t *testing.T, replyTo string) {
	srv, p := sessionPeer(t, Config{})
	p.attachSender(0, 0, "cbs", "$cbs")
	const n = 200
	p.attachReceiver(0, 1, "cbs-reply", "$cbs", replyTo, n)
	reply := p.serverHandle("cbs-reply")
	audience := "amqp://" + srv.AMQPAddr() + "/q"
	for id := range uint32(n) {
		p.transfer(0, 0, id, putTokenRequest(fmt.Sprintf("req-%d", id), replyTo, audience))
	}
	p.expect("last response", func(f frame) bool {
		tr, ok := f.p.(*frames.Transfer)
		if !ok || tr.Handle != reply {
			return false
		}
		corr, _ := decodeResponse(t, f.payload)
		return corr == fmt.Sprintf("req-%d", n-1)
	})
	// Every response must come after its request's disposition, on the wire.
	seen := map[uint32]bool{}
	responses := 0
	for _, f := range p.all(func(frame) bool { return true }) {
		switch x := f.p.(type) {
		case *frames.Disposition:
			if _, ok := x.State.(*frames.Accepted); !ok {
				t.Fatalf("request %d: outcome %#v", x.First, x.State)
			}
			seen[x.First] = true
		case *frames.Transfer:
			if x.Handle != reply {
				continue
			}
			corr, code := decodeResponse(t, f.payload)
			var id uint32
			if _, err := fmt.Sscanf(fmt.Sprint(corr), "req-%d", &id); err != nil || code != 200 {
				t.Fatalf("response %v with status %d", corr, code)
			}
			if !seen[id] {
				t.Fatalf("the response to request %d came before its disposition", id)
			}
			responses++
		}
	}
	if responses != n {
		t.Fatalf("%d responses, want %d", responses, n)
	}
}

// Finding 6: a $management request without reply-to, on a node given as a URI (finding 7).
func TestManagementWithoutReplyToOnURIAddress(t *testing.T) {
	t.Parallel()
	srv, p := sessionPeer(t, Config{})
	node := "amqps://" + srv.AMQPAddr() + "/q/$management"
	p.attachSender(0, 0, "m", node)
	p.attachReceiver(0, 1, "m-reply", node, "", 10)
	reply := p.serverHandle("m-reply")
	req := enc.AppendDescriptor(nil, secProperties)
	req, _ = enc.AppendList(req, []any{uint64(7)})
	req = enc.AppendDescriptor(req, secApplicationProps)
	req, _ = enc.AppendMap(req, enc.Map{{Key: "operation", Value: opPeek}})
	req = enc.AppendDescriptor(req, secValue)
	req, _ = enc.AppendMap(req, enc.Map{{Key: "from-sequence-number", Value: int64(1)}, {Key: "message-count", Value: int32(1)}})
	p.transfer(0, 0, 0, req)
	if st, ok := p.disposition(0).(*frames.Accepted); !ok {
		t.Fatalf("outcome %#v", st)
	}
	f := p.expect("response", func(f frame) bool { tr, ok := f.p.(*frames.Transfer); return ok && tr.Handle == reply })
	if corr, code := decodeResponse(t, f.payload); corr != uint64(7) || code != 204 {
		t.Fatalf("correlation-id %v, status %d; want 7, 204 (empty queue)", corr, code)
	}
}

// Finding 7: entity addresses given as amqps:// and sb:// URIs resolve on attach.
func TestURIAddressesResolve(t *testing.T) {
	t.Parallel()
	srv, p := sessionPeer(t, Config{})
	p.attachSender(0, 0, "s", "amqps://"+srv.AMQPAddr()+"/q")
	p.transfer(0, 0, 0, dataMessage([]byte("via-uri")))
	if st, ok := p.disposition(0).(*frames.Accepted); !ok {
		t.Fatalf("send outcome %#v", st)
	}
	p.attachReceiver(0, 1, "r", "sb://"+srv.AMQPAddr()+"/q/", "", 1)
	f := p.expect("delivery", isType[*frames.Transfer])
	m, err := parseMessage(f.payload)
	if err != nil || len(m.data) != 1 || string(m.data[0]) != "via-uri" {
		t.Fatalf("received %v, %v", m, err)
	}
	if n := len(p.all(isType[*frames.Detach])); n != 0 {
		t.Fatalf("%d links detached", n)
	}
}

func TestNodeAddress(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"q":                                     "q",
		"$cbs":                                  "$cbs",
		"amqps://ns.servicebus.windows.net/q":   "q",
		"sb://localhost:5673/t/Subscriptions/s": "t/Subscriptions/s",
		"amqp://localhost/q/$management":        "q/$management",
		"amqps://localhost/$cbs":                "$cbs",
		"amqps://localhost":                     "",
		"q/$management":                         "q/$management",
	} {
		if got := nodeAddress(in); got != want {
			t.Errorf("nodeAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIDPoolReusesAndStops(t *testing.T) {
	t.Parallel()
	var p idPool
	for want := range uint32(3) {
		if id, ok := p.get(2); !ok || id != want {
			t.Fatalf("get = %d, %v; want %d", id, ok, want)
		}
	}
	if _, ok := p.get(2); ok {
		t.Fatal("an id above max was handed out")
	}
	p.put(1)
	if id, ok := p.get(2); !ok || id != 1 {
		t.Fatalf("after put(1): get = %d, %v", id, ok)
	}
}

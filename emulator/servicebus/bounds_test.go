package servicebus

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/frames"
)

// Regression tests of hostile input (issue 12, findings 1 to 5): each attack runs against the
// in-process emulator over TCP, and each test checks the AMQP error the client gets and that
// the heap stays within 64 MB of idle. The memory tests are not parallel: they measure the
// process's heap.

// nullArray is an array32 of n nulls: 10 bytes on the wire, n interface slots once decoded.
func nullArray(n uint32) []byte {
	return []byte{enc.TypeArray32, 0, 0, 0, 5, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), enc.TypeNull}
}

// amplifiedMap encodes a map32 of n symbol keys, each with a 65,536-null array.
func amplifiedMap(n int) []byte {
	var pairs []byte
	for i := range n {
		pairs = enc.AppendSymbol(pairs, fmt.Sprintf("k%d", i))
		pairs = append(pairs, nullArray(65536)...)
	}
	b := []byte{enc.TypeMap32}
	b = binary.BigEndian.AppendUint32(b, uint32(4+len(pairs)))
	b = binary.BigEndian.AppendUint32(b, uint32(2*n))
	return append(b, pairs...)
}

// Finding 1: an open of 3.7 KB whose properties hold 200 arrays of 65,536 nulls.
func TestAmplifiedOpenIsRefused(t *testing.T) {
	srv := testServer(t, Config{})
	w := watchHeap(t)
	// open: container-id, nine null fields, then properties.
	fields := enc.AppendString(nil, "attacker")
	fields = append(fields, bytes.Repeat([]byte{enc.TypeNull}, 8)...)
	fields = append(fields, amplifiedMap(200)...)
	body := enc.AppendDescriptor(nil, 0x10)
	body = append(body, enc.TypeList32)
	body = binary.BigEndian.AppendUint32(body, uint32(4+len(fields)))
	body = binary.BigEndian.AppendUint32(body, 10)
	body = append(body, fields...)
	p := dialPeerNoOpen(t, srv)
	p.write(rawFrame(0, body))
	e := p.expectClose(CondDecodeError)
	w.check(t, fmt.Sprintf("open of %d bytes", len(body)+8))
	t.Logf("close: %s", e.Description)
}

// Finding 1: messages of under 1 KB whose 50 application properties are 65,536-null arrays;
// and a small array property, which decodes within budget but is not a simple type.
func TestAmplifiedApplicationPropertiesAreRejected(t *testing.T) {
	srv, p := sessionPeer(t, Config{})
	p.attachSender(0, 0, "s", "q")
	w := watchHeap(t)
	props := enc.AppendDescriptor(nil, secApplicationProps)
	props = append(props, amplifiedMap(50)...)
	msg := append(props, dataMessage([]byte("x"))...)
	for id := range uint32(5) {
		p.transfer(0, 0, id, msg)
		rejectedWith(t, p.disposition(id), CondDecodeError)
	}
	w.check(t, fmt.Sprintf("5 messages of %d bytes", len(msg)))
	_ = p.nc.Close()
	w.released(t, "amplified application properties")
	p = dialPeer(t, srv, nil)
	p.begin(0)
	p.attachSender(0, 0, "s", "q")

	small := enc.AppendDescriptor(nil, secApplicationProps)
	small, _ = enc.AppendMap(small, enc.Map{{Key: "list", Value: []any{int64(1), "two"}}})
	p.transfer(0, 0, 5, append(small, dataMessage([]byte("x"))...))
	rejectedWith(t, p.disposition(5), CondInvalidField)
	if st, err := srv.broker.Stats("q"); err != nil || st.Active != 0 {
		t.Fatalf("stats %+v, %v: want no message stored", st, err)
	}
}

// Finding 2: peeks of 100,000 messages with no credit on the reply link, on a queue of twenty
// 250 KB messages.
func TestPeekWithoutCreditStaysBounded(t *testing.T) {
	srv, p := managementPeer(t, Config{}, 20, 250<<10)
	w := watchHeap(t)
	req := peekRequest(100000)
	accepted, limited := 0, 0
	for id := range uint32(40) {
		p.transfer(0, 0, id, req)
		switch st := p.disposition(id).(type) {
		case *frames.Accepted:
			accepted++
		case *frames.Rejected:
			rejectedWith(t, st, CondResourceLimit)
			limited++
		}
	}
	w.check(t, "40 peeks without credit")
	defer w.released(t, "peeks")
	defer p.nc.Close()
	t.Logf("%d peeks queued, %d refused", accepted, limited)
	// Credit now: every queued response arrives, one message each (the reply-size cap).
	one := uint32(1)
	credit := uint32(accepted)
	p.send(0, &frames.Flow{IncomingWindow: 5000, OutgoingWindow: 5000, Handle: &one, DeliveryCount: new(uint32), LinkCredit: &credit}, nil)
	for range accepted {
		f := p.expect("peek response", isType[*frames.Transfer])
		if len(f.payload) > int(srv.cfg.MaxMessageSize)+4096 && !f.p.(*frames.Transfer).More {
			t.Fatalf("response of %d bytes", len(f.payload))
		}
	}
}

func peekRequest(count int32) []byte {
	req := enc.AppendDescriptor(nil, secProperties)
	req, _ = enc.AppendList(req, []any{"peek", nil, nil, nil, "reply"})
	req = enc.AppendDescriptor(req, secApplicationProps)
	req, _ = enc.AppendMap(req, enc.Map{{Key: "operation", Value: opPeek}})
	req = enc.AppendDescriptor(req, secValue)
	req, _ = enc.AppendMap(req, enc.Map{{Key: "from-sequence-number", Value: int64(1)}, {Key: "message-count", Value: count}})
	return req
}

// Finding 3: handle-max as negotiated.
func TestAttachAboveHandleMaxClosesConnection(t *testing.T) {
	t.Parallel()
	srv := testServer(t, Config{})
	p := dialPeer(t, srv, nil)
	p.send(0, &frames.Begin{IncomingWindow: 10, OutgoingWindow: 10, HandleMax: 3}, nil)
	b := p.expect("begin", isType[*frames.Begin]).p.(*frames.Begin)
	if b.HandleMax != 3 {
		t.Fatalf("server announced handle-max %d, want the peer's 3", b.HandleMax)
	}
	p.send(0, &frames.Attach{Name: "h", Handle: 1000, Role: frames.RoleSender, Source: &frames.Source{}, Target: &frames.Target{Address: "q"}}, nil)
	e := p.expectClose(CondFramingError)
	if e.Description != "attach on handle 1000 above handle-max 3" {
		t.Fatalf("description %q", e.Description)
	}
}

// Finding 3: channel-max as negotiated, and sessions found in O(1): 1,024 sessions are the
// default cap, the next channel is a framing error.
func TestSessionsBoundedByChannelMax(t *testing.T) {
	t.Parallel()
	srv := testServer(t, Config{})
	p := dialPeer(t, srv, &frames.Open{ContainerID: "peer", ChannelMax: 65535, ChannelMaxSet: true})
	o := p.expect("open", isType[*frames.Open]).p.(*frames.Open)
	if o.ChannelMax != DefaultMaxSessionsPerConnection-1 {
		t.Fatalf("channel-max %d, want %d", o.ChannelMax, DefaultMaxSessionsPerConnection-1)
	}
	start := time.Now()
	var batch []byte
	for ch := range uint16(DefaultMaxSessionsPerConnection) {
		batch, _ = frames.Append(batch, frames.TypeAMQP, ch, &frames.Begin{IncomingWindow: 10, OutgoingWindow: 10}, nil)
	}
	p.write(batch)
	p.sync(DefaultMaxSessionsPerConnection - 1)
	if n := len(p.all(isType[*frames.Begin])); n != DefaultMaxSessionsPerConnection {
		t.Fatalf("%d sessions begun", n)
	}
	t.Logf("%d sessions in %v", DefaultMaxSessionsPerConnection, time.Since(start))
	p.send(DefaultMaxSessionsPerConnection, &frames.Begin{IncomingWindow: 10, OutgoingWindow: 10}, nil)
	e := p.expectClose(CondFramingError)
	if e.Description != "begin on channel 1024 above channel-max 1023" {
		t.Fatalf("description %q", e.Description)
	}
}

// Finding 3: the links of a connection are capped across its sessions.
func TestLinksPerConnectionCapped(t *testing.T) {
	t.Parallel()
	srv := testServer(t, Config{MaxLinksPerConnection: 8})
	p := dialPeer(t, srv, nil)
	p.begin(0)
	p.begin(1)
	for h := range uint32(4) {
		p.attachSender(0, h, fmt.Sprintf("a%d", h), "q")
		p.attachSender(1, h, fmt.Sprintf("b%d", h), "q")
	}
	p.send(1, &frames.Attach{Name: "over", Handle: 4, Role: frames.RoleSender, Source: &frames.Source{}, Target: &frames.Target{Address: "q"}}, nil)
	e := p.expectEnd(CondResourceLimit)
	if e.Description != "a connection may have at most 8 links" {
		t.Fatalf("description %q", e.Description)
	}
	// The ended session's links are gone: session 0 may attach again after its peer answers.
	p.send(1, &frames.End{}, nil)
	p.send(0, &frames.Detach{Handle: 0, Closed: true}, nil)
	p.expectDetachReply(0)
	p.attachSender(0, 7, "again", "q")
}

// Finding 3: 300 senders each holding an unfinished 248 KB delivery.
func TestUnfinishedDeliveriesBounded(t *testing.T) {
	srv, p := sessionPeer(t, Config{})
	const links = 300
	var batch []byte
	for h := range uint32(links) {
		batch, _ = frames.Append(batch, frames.TypeAMQP, 0, &frames.Attach{Name: fmt.Sprintf("s%d", h), Handle: h, Role: frames.RoleSender,
			Source: &frames.Source{}, Target: &frames.Target{Address: "q"}}, nil)
	}
	p.write(batch)
	p.sync(0)
	w := watchHeap(t)
	chunk := bytes.Repeat([]byte{'u'}, 62<<10)
	zero := uint32(0)
	for h := range uint32(links) {
		id := h
		batch = batch[:0]
		batch, _ = frames.Append(batch, frames.TypeAMQP, 0, &frames.Transfer{Handle: h, DeliveryID: &id, DeliveryTag: []byte{1}, MessageFormat: &zero, More: true}, chunk)
		for range 3 {
			batch, _ = frames.Append(batch, frames.TypeAMQP, 0, &frames.Transfer{Handle: h, More: true}, chunk)
		}
		p.write(batch)
	}
	p.sync(0)
	w.check(t, fmt.Sprintf("%d unfinished deliveries of %d KB", links, 4*len(chunk)>>10))
	defer w.released(t, "unfinished deliveries")
	defer p.nc.Close()
	detached := p.all(func(f frame) bool {
		d, ok := f.p.(*frames.Detach)
		return ok && d.Error != nil && string(d.Error.Condition) == string(CondResourceLimit)
	})
	if len(detached) == 0 {
		t.Fatal("no link was detached with amqp:resource-limit-exceeded")
	}
	held := links - len(detached)
	if max := DefaultMaxPendingBytes / (4 * len(chunk)); held > max+1 {
		t.Fatalf("%d deliveries held, the budget allows about %d", held, max)
	}
	t.Logf("%d links detached, %d deliveries held (%d bytes pending)", len(detached), held, srvPending(srv))
}

func srvPending(srv *Server) int64 {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	var n int64
	for c := range srv.conns {
		n += c.pending.Load()
	}
	return n
}

// Finding 4: dispositions over 2^20 delivery ids cost only the outstanding deliveries.
func TestWideDispositionIsCheap(t *testing.T) {
	t.Parallel()
	_, p := sessionPeer(t, Config{})
	last := uint32(1 << 20)
	start := time.Now()
	var batch []byte
	for range 300 {
		batch, _ = frames.Append(batch, frames.TypeAMQP, 0, &frames.Disposition{Role: frames.RoleReceiver, First: 0, Last: &last, Settled: true, State: &frames.Accepted{}}, nil)
	}
	p.write(batch)
	p.sync(0)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("300 dispositions over 2^20 ids took %v", d)
	} else {
		t.Logf("300 dispositions over 2^20 ids: %v", d)
	}
	if n := len(p.all(isType[*frames.End])); n != 0 {
		t.Fatal("the session was ended")
	}
}

// Finding 5: a queue at its MaxSizeInMegabytes refuses messages with amqp:resource-limit-exceeded.
func TestQuotaExceeded(t *testing.T) {
	t.Parallel()
	srv := testServer(t, Config{})
	if err := srv.CreateQueue(QueueConfig{Name: "small", MaxSizeInMegabytes: 1}); err != nil {
		t.Fatal(err)
	}
	p := dialPeer(t, srv, nil)
	p.begin(0)
	p.attachSender(0, 0, "s", "small")
	msg := dataMessage(bytes.Repeat([]byte{'z'}, 60<<10))
	var id uint32
	for ; id < 40; id++ {
		p.transfer(0, 0, id, msg)
		if _, ok := p.disposition(id).(*frames.Rejected); ok {
			break
		}
	}
	if want := uint32(1<<20) / uint32(len(msg)); id != want {
		t.Fatalf("refused message %d, want %d (1 MB / %d bytes)", id, want, len(msg))
	}
	p.transfer(0, 0, id+1, msg)
	rejectedWith(t, p.disposition(id+1), CondQuotaExceeded)
}

// Finding 4, correctness: a range far larger than the outstanding deliveries settles exactly
// those, in id order.
func TestWideDispositionSettlesOutstanding(t *testing.T) {
	t.Parallel()
	srv, p := sessionPeer(t, Config{})
	for i := range 3 {
		if _, err := srv.broker.Send("q", []*broker.Message{{Body: dataMessage([]byte{byte('a' + i)})}}); err != nil {
			t.Fatal(err)
		}
	}
	second := frames.ReceiverSecond
	h, credit := uint32(0), uint32(3)
	p.send(0, &frames.Attach{Name: "r", Handle: h, Role: frames.RoleReceiver, ReceiverSettleMode: &second,
		Source: &frames.Source{Address: "q"}, Target: &frames.Target{}}, nil)
	p.send(0, &frames.Flow{IncomingWindow: 5000, OutgoingWindow: 5000, Handle: &h, DeliveryCount: new(uint32), LinkCredit: &credit}, nil)
	for range 3 {
		p.expect("delivery", isType[*frames.Transfer])
	}
	last := uint32(1 << 31)
	p.send(0, &frames.Disposition{Role: frames.RoleReceiver, First: 0, Last: &last, State: &frames.Accepted{}}, nil)
	for want := range uint32(3) {
		d := p.expect("settlement", func(f frame) bool { d, ok := f.p.(*frames.Disposition); return ok && d.Role == frames.RoleSender }).p.(*frames.Disposition)
		if d.First != want || !d.Settled || !isAccepted(d.State) {
			t.Fatalf("settlement %+v, want delivery %d accepted", d, want)
		}
	}
	if st, err := srv.broker.Stats("q"); err != nil || st.Total() != 0 {
		t.Fatalf("stats %+v, %v: want the queue empty", st, err)
	}
}

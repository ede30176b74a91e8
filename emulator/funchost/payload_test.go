package funchost

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	goldenNow  = time.Date(2024, 5, 1, 10, 0, 0, 123456700, time.UTC)
	goldenGUID = "9f…"
)

// TestPayloadGolden renders payloads and compares them with fixtures written
// by hand from docs/functions-protocol.md (2.5, 3.1, 2.7).
func TestPayloadGolden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file  string
		fn    string
		now   time.Time
		guid  string
		build func() *Payload
	}{
		{"servicebus_note_example.json", "ProcessOrder", goldenNow, goldenGUID, func() *Payload {
			body := `{"orderId":7}`
			p := &Payload{}
			p.Data.Set("msg", TriggerValue([]byte(body), ""))
			m := &p.Metadata
			enq := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
			exp := time.Date(2024, 5, 15, 10, 0, 0, 0, time.UTC)
			m.Set("DeliveryCount", IntValue(1))
			m.Set("LockToken", StringValue("0b1c…"))
			m.Set("MessageId", StringValue("m-1"))
			m.Set("SequenceNumber", IntValue(12))
			m.Set("EnqueuedTimeUtc", DateTimeValue(enq))
			m.Set("EnqueuedTime", DateTimeOffsetValue(enq))
			m.Set("ExpiresAtUtc", DateTimeValue(exp))
			m.Set("ExpiresAt", DateTimeOffsetValue(exp))
			m.Set("ContentType", StringValue("application/json"))
			m.Set("CorrelationId", Value{}) // null → omitted
			m.Set("ApplicationProperties", ObjectValue(map[string]any{"tenant": "a"}))
			m.Set("UserProperties", ObjectValue(map[string]any{"tenant": "a"}))
			for _, k := range []string{"MessageReceiver", "MessageSession", "MessageActions", "SessionActions", "ReceiveActions"} {
				m.Set(k, ObjectValue(map[string]any{}))
			}
			client := newFields()
			client.Set("FullyQualifiedNamespace", rawValue(mustJSON("ns.servicebus.windows.net")))
			client.Set("IsClosed", rawValue(mustJSON(false)))
			client.Set("TransportType", rawValue(mustJSON(0)))
			client.Set("Identifier", rawValue(mustJSON("ns-…")))
			m.Set("Client", client.Value())
			m.SpillJSON(body)
			return p
		}},
		{"http_request.json", "CreateOrder", goldenNow, goldenGUID, func() *Payload {
			r := httptest.NewRequest("POST", "http://localhost:7071/api/orders/5?x=1", strings.NewReader(`{"qty":2}`))
			r.Header.Set("Content-Type", "application/json")
			return httpRequestPayload("req", r, []byte(`{"qty":2}`), map[string]string{"id": "5"}, localIdentities("Admin"))
		}},
		{"string_spill.json", "Consume", goldenNow, goldenGUID, func() *Payload {
			return stringTriggerPayload("msg", `{"a":1,"b":true,"c":"x","d":{"e":[1]},"f":[1,2],"g":null,"h":1.5}`, "")
		}},
		{"binary_rabbitmq.json", "Consume", goldenNow, goldenGUID, func() *Payload {
			p := stringTriggerPayload("msg", `{"a":1}`, "binary")
			p.Metadata.Set("ConsumerTag", StringValue("amq.ctag-1"))
			p.Metadata.Set("DeliveryTag", UintValue(7))
			p.Metadata.Set("Redelivered", BoolValue(false))
			p.Metadata.Set("Exchange", StringValue(""))
			p.Metadata.Set("RoutingKey", StringValue("orders"))
			return p
		}},
		{"timer.json", "helloTimer", time.Date(2023, 10, 12, 20, 13, 49, 640002000, time.UTC), "4e773554-f6b7-4ea2-b07d-4c5fd5aba741", func() *Payload {
			at := time.Date(2023, 10, 12, 20, 13, 49, 640002000, time.UTC)
			return timerPayload("timer", TimerStatus{Last: at, Next: time.Date(2023, 10, 12, 20, 13, 59, 0, time.UTC), LastUpdated: at}, false)
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			checkGolden(t, c.build(), c.fn, c.now, c.guid, c.file)
		})
	}
}

// checkGolden renders p and compares it, as JSON, with
// testdata/payload/<file>. FUNCHOST_UPDATE_GOLDEN=1 rewrites the fixture
// first (review the diff: the fixtures are the reference).
func checkGolden(t *testing.T, p *Payload, fn string, now time.Time, guid, file string) {
	t.Helper()
	got, err := p.Body(fn, now, guid)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "payload", file)
	if os.Getenv("FUNCHOST_UPDATE_GOLDEN") == "1" {
		var v any
		_ = json.Unmarshal(got, &v)
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("rendered payload is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("payload differs from %s\ngot:  %s\nwant: %s", file, got, want)
	}
}

func TestValueEncoding(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		v    Value
		want string
	}{
		{"string double-encoded", StringValue("hello"), `"\"hello\""`},
		{"json string double-encoded", StringValue(`{"a":1}`), `"\"{\\\"a\\\":1}\""`},
		{"int stringified", IntValue(3), `"3"`},
		{"negative long", IntValue(-42), `"-42"`},
		{"bool stringified", BoolValue(true), `"true"`},
		{"bytes base64", BytesValue([]byte{0, 1, 2}), `"AAEC"`},
		{"datetime seconds, no zone", DateTimeValue(time.Date(2024, 5, 1, 10, 0, 0, 999, time.UTC)), `"2024-05-01T10:00:00"`},
		{"datetimeoffset", DateTimeOffsetValue(time.Date(2024, 5, 1, 10, 0, 0, 0, time.FixedZone("", 3600))), `"2024-05-01T10:00:00+01:00"`},
		{"array as JSON string", ArrayValue([]string{"a", "b"}), `"[\"a\",\"b\"]"`},
		{"object nested", ObjectValue(map[string]int{"n": 1}), `{"n":1}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := string(c.v.Raw()); got != c.want {
				t.Fatalf("wire form = %s, want %s", got, c.want)
			}
		})
	}
}

func TestFieldsNullOmissionAndOrder(t *testing.T) {
	t.Parallel()
	var f Fields
	f.Set("b", IntValue(1))
	f.Set("a", StringValue("x"))
	f.Set("b", IntValue(2)) // overwrite keeps position
	f.Set("c", IntValue(3))
	f.Set("c", Value{}) // null removes
	b, _ := f.MarshalJSON()
	if string(b) != `{"b":"2","a":"\"x\""}` {
		t.Fatalf("got %s", b)
	}
}

func TestSysUtcNowFormat(t *testing.T) {
	t.Parallel()
	p := &Payload{}
	b, err := p.Body("F", time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), "g")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"Data":{},"Metadata":{"sys":{"MethodName":"F","UtcNow":"2024-05-01T10:00:00Z","RandGuid":"g"}}}` {
		t.Fatalf("got %s", b)
	}
}

// FuzzSpillJSON checks the JSON-body spill: no panic, and the metadata it
// builds is always valid JSON.
func FuzzSpillJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":{"c":[1]},"d":null}`, `{"a":true,"a":false}`, `[1,2]`, `{"x":1e400}`, ` {"s":"\u00e9"} `} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		p := stringTriggerPayload("msg", body, "")
		b, err := p.Body("F", goldenNow, goldenGUID)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			t.Fatalf("invalid JSON for body %q: %s", body, b)
		}
	})
}

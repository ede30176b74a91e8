package funchost

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestParseResult(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, ct, body string
		status         int
		wantErr        bool
	}{
		{"ok", "application/json", `{"Outputs":{"res":{"statusCode":"201"}},"Logs":["a"],"ReturnValue":null}`, 200, false},
		{"text/json ok", "text/json; charset=utf-8", `{}`, 200, false},
		{"non-2xx", "application/json", `{}`, 500, true},
		{"text/plain", "text/plain", `{}`, 200, true},
		{"empty body", "application/json", ``, 200, true},
		{"null body", "application/json", `null`, 200, true},
		{"bad json", "application/json", `{`, 200, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			resp := &http.Response{StatusCode: c.status, Header: http.Header{"Content-Type": {c.ct}}, Body: io.NopCloser(strings.NewReader(c.body))}
			res, err := parseResult(resp)
			if c.wantErr {
				if !errors.Is(err, ErrBadResponse) {
					t.Fatalf("err = %v, want ErrBadResponse", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.name == "ok" && (len(res.Logs) != 1 || res.ReturnValue != nil || string(res.Outputs["res"]) != `{"statusCode":"201"}`) {
				t.Fatalf("result = %+v", res)
			}
		})
	}
}

func TestResultOutput(t *testing.T) {
	t.Parallel()
	r := &Result{Outputs: map[string]json.RawMessage{"res": json.RawMessage(`{"body":"o"}`), "Res": json.RawMessage(`1`)}, ReturnValue: json.RawMessage(`{"res":{"body":"r"}}`)}
	if v, _ := r.Output("$return", true); string(v) != `{"res":{"body":"r"}}` {
		t.Errorf("$return = %s", v)
	}
	if v, _ := r.Output("res", false); string(v) != `{"body":"r"}` {
		t.Errorf("ReturnValue object should override Outputs without a $return binding, got %s", v)
	}
	if v, _ := r.Output("res", true); string(v) != `{"body":"o"}` {
		t.Errorf("res = %s", v)
	}
	if v, _ := r.Output("Res", true); string(v) != `1` {
		t.Errorf("keys are case-sensitive, got %s", v)
	}
}

func TestParseHTTPOutput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, raw, wantBody, wantCT string
		wantStatus                  int
		wantErr                     bool
	}{
		{"upstream test shape", `{"body":"foobar","statusCode":"301","headers":{"Location":"/x"}}`, "foobar", "text/plain; charset=utf-8", 301, false},
		{"numeric status", `{"statusCode":201,"body":"x","headers":{"Content-Type":"text/csv"}}`, "x", "text/csv", 201, false},
		{"object body indented", `{"body":{"a":[1,2]}}`, "{\n  \"a\": [\n    1,\n    2\n  ]\n}", "application/json; charset=utf-8", 200, false},
		{"string holding object", `"{\"statusCode\":\"404\"}"`, "", "", 404, false},
		{"missing", ``, "{}", "application/json; charset=utf-8", 200, false},
		{"non-JSON string", `"hello"`, "", "", 0, true},
		{"bad status", `{"statusCode":"abc"}`, "", "", 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out, err := parseHTTPOutput(json.RawMessage(c.raw))
			if c.wantErr {
				if !errors.Is(err, ErrBadResponse) {
					t.Fatalf("err = %v, want ErrBadResponse", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Status != c.wantStatus || string(out.Body) != c.wantBody || out.Header.Get("Content-Type") != c.wantCT {
				t.Fatalf("got %d %q %q", out.Status, out.Body, out.Header.Get("Content-Type"))
			}
		})
	}
}

func TestOutputMessages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, raw, dataType string
		want                []string
	}{
		{"plain string", `"hello world"`, "", []string{"hello world"}},
		{"base64-looking string decoded", `"ping"`, "", []string{"\xa6\x29\xe0"}},
		{"binary keeps string", `"ping"`, "binary", []string{"ping"}},
		{"array", `["a",{"b":1},2]`, "", []string{"a", "{\n  \"b\": 1\n}", "2"}},
		{"string holding array", `"[1,2]"`, "", []string{"1", "2"}},
		{"object indented", `{"a":"<x>"}`, "", []string{"{\n  \"a\": \"<x>\"\n}"}},
		{"number", `42`, "", []string{"42"}},
		{"null", `null`, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			msgs, err := OutputMessages(json.RawMessage(c.raw), c.dataType)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range msgs {
				got = append(got, string(m))
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

// FuzzHTTPOutput feeds arbitrary handler output values to the converters:
// they must never panic, and an accepted value has a sane status.
func FuzzHTTPOutput(f *testing.F) {
	for _, s := range []string{`{"statusCode":"201","body":{"a":1},"headers":{"X":"y"}}`, `"{\"statusCode\":404}"`, `["a",{"b":1}]`, `"ping"`, `{"body":null,"status":3}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if out, err := parseHTTPOutput(json.RawMessage(raw)); err == nil && (out.Status < 100 || out.Status > 999) {
			t.Fatalf("accepted status %d", out.Status)
		}
		_, _ = OutputMessages(json.RawMessage(raw), "")
		_, _ = OutputMessages(json.RawMessage(raw), "binary")
	})
}

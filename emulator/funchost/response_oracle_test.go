package funchost

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzScanResult holds the handler-answer fast path to encoding/json: when
// it takes an answer, it reads what json.Unmarshal reads into resultWire.
func FuzzScanResult(f *testing.F) {
	for _, s := range []string{
		`{"Outputs":{},"Logs":["order 7 confirmed (message m, delivery 1)"],"ReturnValue":null}`,
		`{"Outputs":{"res":{"statusCode":200,"body":"x"},"res":1},"Logs":null,"ReturnValue":{"a":[1]}}`,
		`{"Outputs":null,"Logs":[null,"a\"b\\n",""],"outputs":{}}`, `{"logs":["x"],"Logs":["y"]}`, `{"Logs":["\u003c"]}`,
		`{"Logs":[1]}`, `{"Outputs":[]}`, `[]`, `null`, `{"Outputs":{"r\u00e9s":1}}`, `{"ReturnValue":1,"ReturnValue":2}`, `{} `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := scanResult(body)
		if !ok {
			return
		}
		var want resultWire
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("scanResult took %q, which encoding/json refuses: %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("scanResult(%q) = %#v, encoding/json %#v", body, got, want)
		}
	})
}

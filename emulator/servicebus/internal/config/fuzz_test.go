package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/config"
)

// FuzzParse checks that comment stripping, JSON decoding and validation
// never panic, and that a document that parses maps to entities that a
// broker accepts (SQL rules, forwarding order and loops included).
func FuzzParse(f *testing.F) {
	for _, p := range []string{filepath.Join("testdata", "official", "Config.json"), filepath.Join("testdata", "sample-no-sql.json")} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"UserConfig":{"Namespaces":[{"Name":"n","Queues":[{"Name":"q","Properties":{"LockDuration":"PT1.5S"}}]}]}} // x`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(data)
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		e := c.Entities()
		for _, q := range e.Queues {
			if q.Name == "" || q.LockDuration <= 0 || q.MaxDeliveryCount < 1 || q.DefaultMessageTimeToLive <= 0 {
				t.Fatalf("invalid queue accepted: %+v", q)
			}
		}
		b := broker.New(broker.Config{})
		defer b.Stop()
		if err := c.Apply(b); err != nil {
			t.Fatalf("valid document refused by the broker: %v", err)
		}
	})
}

// FuzzParseDuration checks that ParseDuration never panics or returns a
// negative duration.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT1H", "P14D", "P1DT2H3M4.5S", "PT0,25S", "P99999999999999D"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := config.ParseDuration(s)
		if err == nil && d < 0 {
			t.Fatalf("ParseDuration(%q) = %v", s, d)
		}
	})
}

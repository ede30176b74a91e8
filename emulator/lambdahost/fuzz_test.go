package lambdahost

import (
	"testing"
	"time"
)

func FuzzRate(f *testing.F) {
	for _, s := range []string{"rate(1 minute)", "rate(10 seconds)", "rate(0 hours)", "cron(0 * * * ? *)", "rate(99999999999999999999 days)", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := rate(s)
		if err == nil && d < time.Second {
			t.Fatalf("%q gave %s", s, d)
		}
	})
}

func FuzzVhostOf(f *testing.F) {
	for _, s := range []string{"amqp://guest:guest@127.0.0.1:5672/", "amqp://h/v%2Fx", "amqp://h", "%%", "amqp://h/%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if vhostOf(s) == "" {
			t.Fatalf("%q gave an empty vhost", s)
		}
	})
}

package servicebus

import (
	"math"
	"testing"
	"time"

	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// The accept-next timeout link property as the SDKs send it (Go: uint; JavaScript: a number that
// may arrive as int, long or double) and the .NET ticks of locked-until-utc.
func TestAcceptTimeoutAndTicks(t *testing.T) {
	t.Parallel()
	def := time.Minute
	tests := []struct {
		name  string
		props enc.Map
		want  time.Duration
		bad   bool
	}{
		{"absent", nil, def, false},
		{"null", enc.Map{{Key: enc.Symbol(propTimeout), Value: nil}}, def, false},
		{"uint", enc.Map{{Key: enc.Symbol(propTimeout), Value: uint32(2500)}}, 2500 * time.Millisecond, false},
		{"long", enc.Map{{Key: enc.Symbol(propTimeout), Value: int64(3000)}}, 3 * time.Second, false},
		{"double", enc.Map{{Key: enc.Symbol(propTimeout), Value: float64(1500.7)}}, 1500 * time.Millisecond, false},
		{"huge double capped", enc.Map{{Key: enc.Symbol(propTimeout), Value: math.Inf(1)}}, math.MaxUint32 * time.Millisecond, false},
		{"negative", enc.Map{{Key: enc.Symbol(propTimeout), Value: int32(-1)}}, 0, true},
		{"NaN", enc.Map{{Key: enc.Symbol(propTimeout), Value: math.NaN()}}, 0, true},
		{"string", enc.Map{{Key: enc.Symbol(propTimeout), Value: "5s"}}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := acceptTimeout(tt.props, def)
			if (err != nil) != tt.bad || (!tt.bad && got != tt.want) {
				t.Fatalf("acceptTimeout = %v, %v; want %v (error: %v)", got, err, tt.want, tt.bad)
			}
		})
	}
	// The SDKs' own conversion: unix ms = (ticks - 621355968000000000) / 10000.
	at := time.Date(2026, 11, 27, 1, 2, 3, 456_000_000, time.UTC)
	if ms := (dotnetTicks(at) - 621355968000000000) / 10000; ms != at.UnixMilli() {
		t.Fatalf("ticks of %v convert back to %d ms, want %d", at, ms, at.UnixMilli())
	}
}

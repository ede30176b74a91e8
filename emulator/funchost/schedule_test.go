package funchost

import (
	"errors"
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	base := time.Date(2024, 5, 1, 10, 0, 3, 0, time.Local)
	cases := []struct {
		expr string
		want time.Time
	}{
		{"*/10 * * * * *", time.Date(2024, 5, 1, 10, 0, 10, 0, time.Local)},
		{"0 */5 * * * *", time.Date(2024, 5, 1, 10, 5, 0, 0, time.Local)},
		{"0 30 9 * * 1-5", time.Date(2024, 5, 2, 9, 30, 0, 0, time.Local)}, // 2024-05-01 is a Wednesday
		{"0 0 0 1 1 *", time.Date(2025, 1, 1, 0, 0, 0, 0, time.Local)},
		{"00:00:10", base.Add(10 * time.Second)},
		{"01:30", base.Add(90 * time.Minute)},
		{"1.00:00:00", base.Add(24 * time.Hour)},
		{"2", base.Add(48 * time.Hour)},
		{"00:00:00.5", base.Add(500 * time.Millisecond)},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			t.Parallel()
			s, err := ParseSchedule(c.expr)
			if err != nil {
				t.Fatalf("ParseSchedule: %v", err)
			}
			if got := s.Next(base); !got.Equal(c.want) {
				t.Fatalf("Next = %v, want %v", got, c.want)
			}
		})
	}
}

func TestParseScheduleErrors(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{"", "* * * * *", "61 * * * * *", "00:00:00", "25:00:00", "1.2.3", "abc", "00:60", "-00:00:10", "* * * * * * *"} {
		t.Run(expr, func(t *testing.T) {
			t.Parallel()
			if _, err := ParseSchedule(expr); !errors.Is(err, ErrSchedule) {
				t.Fatalf("ParseSchedule(%q) = %v, want ErrSchedule", expr, err)
			}
		})
	}
}

func TestParseFunctionTimeout(t *testing.T) {
	t.Parallel()
	cases := map[string]time.Duration{"00:05:00": 5 * time.Minute, "-1": 0, "01:00:00": time.Hour, "00:00:01": time.Second}
	for in, want := range cases {
		got, err := parseFunctionTimeout(in)
		if err != nil || got != want {
			t.Errorf("parseFunctionTimeout(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseFunctionTimeout("00:00:00.5"); !errors.Is(err, ErrConfig) {
		t.Errorf("below 1s: err = %v, want ErrConfig", err)
	}
}

// FuzzParseSchedule checks that schedule parsing never panics and that a
// parsed schedule always moves forward.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"*/10 * * * * *", "0 30 9 * * 1-5", "00:00:10", "1.00:00:00", "00:00:00.1234567"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := ParseSchedule(expr)
		if err != nil {
			if !errors.Is(err, ErrSchedule) {
				t.Fatalf("error %v does not wrap ErrSchedule", err)
			}
			return
		}
		now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
		if next := s.Next(now); !next.IsZero() && !next.After(now) {
			t.Fatalf("Next(%v) = %v, not after", now, next)
		}
	})
}

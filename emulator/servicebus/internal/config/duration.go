package config

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is an ISO 8601 duration as Config.json writes them ("PT1M",
// "P14D", "PT0.5S"). Set is false when the field was absent. A malformed
// value is kept in Err and reported by validation, which knows which entity
// and field it belongs to.
type Duration struct {
	time.Duration
	Set bool
	Err error
}

// UnmarshalJSON parses a JSON string holding an ISO 8601 duration.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		*d = Duration{Set: true, Err: fmt.Errorf("want an ISO 8601 duration string such as \"PT1M\", got %s: %w", b, ErrInvalid)}
		return nil
	}
	v, err := ParseDuration(s)
	*d = Duration{Duration: v, Set: true, Err: err}
	return nil
}

// ParseDuration parses an ISO 8601 duration: P[nY][nM][nW][nD][T[nH][nM][nS]],
// with at least one component and a decimal fraction (up to nanoseconds)
// allowed on the seconds. As in .NET (XmlConvert), a year is 365 days and a
// month 30 days. Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("duration %q: %s (want ISO 8601 such as PT30S, PT1H, P14D): %w", s, why, ErrInvalid)
	}
	rest, ok := strings.CutPrefix(s, "P")
	if !ok {
		return bad("must start with P")
	}
	const day = 24 * time.Hour
	dateUnits := map[byte]time.Duration{'Y': 365 * day, 'M': 30 * day, 'W': 7 * day, 'D': day}
	timeUnits := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second}
	var total time.Duration
	inTime, components, timeComponents := false, 0, 0
	order, last := "YMWD", -1
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return bad("T appears twice")
			}
			inTime, order, last = true, "HMS", -1
			rest = rest[1:]
			continue
		}
		j := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' && r != ',' })
		if j <= 0 {
			return bad("each component is a number followed by a unit letter")
		}
		num, unit := rest[:j], rest[j]
		rest = rest[j+1:]
		mult, ok := dateUnits[unit]
		if inTime {
			mult, ok = timeUnits[unit]
		}
		pos := strings.IndexByte(order, unit)
		if !ok || pos < 0 {
			return bad(fmt.Sprintf("unexpected unit %q", unit))
		}
		if pos <= last {
			return bad("components out of order or repeated")
		}
		last = pos
		whole, frac, hasFrac := strings.Cut(strings.Replace(num, ",", ".", 1), ".")
		if hasFrac && unit != 'S' || !inTime && hasFrac {
			return bad("only seconds may have a fraction")
		}
		if whole == "" {
			whole = "0"
		}
		n, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || n > math.MaxInt64/int64(mult) {
			return bad("number out of range: " + num)
		}
		add := time.Duration(n) * mult
		if hasFrac {
			if frac == "" || len(frac) > 9 || strings.ContainsAny(frac, ".,") {
				return bad("bad fraction: " + num)
			}
			f, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
			if err != nil {
				return bad("bad fraction: " + num)
			}
			add += time.Duration(f)
		}
		if total > math.MaxInt64-add {
			return bad("too long")
		}
		total += add
		components++
		if inTime {
			timeComponents++
		}
	}
	switch {
	case components == 0:
		return bad("no components")
	case inTime && timeComponents == 0:
		return bad("T must be followed by hours, minutes or seconds")
	}
	return total, nil
}

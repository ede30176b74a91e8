package funchost

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is a timerTrigger schedule: a 6-field NCRONTAB expression
// ("{second} {minute} {hour} {day} {month} {day-of-week}") or a TimeSpan
// interval ("00:00:10", "1.00:00:00").
type Schedule struct {
	// Expression is the schedule as written in function.json.
	Expression string
	cron       cron.Schedule
	interval   time.Duration
}

var ncrontab = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// ParseSchedule parses a timer schedule. NCRONTAB is evaluated in the local
// time zone of this machine, as func start does (Azure uses WEBSITE_TIME_ZONE,
// default UTC).
func ParseSchedule(expr string) (*Schedule, error) {
	s := &Schedule{Expression: expr}
	trimmed := strings.TrimSpace(expr)
	if trimmed == "" {
		return nil, fmt.Errorf("%w: empty schedule", ErrSchedule)
	}
	if len(strings.Fields(trimmed)) == 6 {
		c, err := ncrontab.Parse(trimmed)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrSchedule, expr, err)
		}
		s.cron = c
		return s, nil
	}
	if len(strings.Fields(trimmed)) > 1 {
		return nil, fmt.Errorf("%w: %q: NCRONTAB needs 6 fields (second minute hour day month day-of-week)", ErrSchedule, expr)
	}
	d, err := parseTimeSpan(trimmed)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is neither NCRONTAB nor a TimeSpan: %v", ErrSchedule, expr, err)
	}
	if d <= 0 {
		return nil, fmt.Errorf("%w: %q: interval must be positive", ErrSchedule, expr)
	}
	s.interval = d
	return s, nil
}

// Next returns the first occurrence strictly after t. For an interval
// schedule that is t + interval, as the real host's ConstantSchedule does.
func (s *Schedule) Next(t time.Time) time.Time {
	if s.cron != nil {
		return s.cron.Next(t)
	}
	return t.Add(s.interval)
}

// parseTimeSpan parses the .NET TimeSpan forms used in host.json and
// function.json: "d", "hh:mm", "hh:mm:ss", "d.hh:mm:ss", with optional
// ".fffffff" fraction and leading '-'.
func parseTimeSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return 0, fmt.Errorf("empty time span")
	}
	var days int64
	if !strings.Contains(s, ":") {
		d, err := strconv.ParseInt(s, 10, 64)
		if err != nil || d > 10675199 {
			return 0, fmt.Errorf("bad time span %q", s)
		}
		return signed(time.Duration(d)*24*time.Hour, neg), nil
	}
	if dot := strings.IndexByte(s, '.'); dot >= 0 && dot < strings.IndexByte(s, ':') {
		d, err := strconv.ParseInt(s[:dot], 10, 64)
		if err != nil || d > 10675199 {
			return 0, fmt.Errorf("bad days in %q", s)
		}
		days, s = d, s[dot+1:]
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, fmt.Errorf("bad time span %q", s)
	}
	var frac time.Duration
	if len(parts) == 3 {
		sec, f, ok := strings.Cut(parts[2], ".")
		if ok {
			if f == "" || len(f) > 7 || !allDigits(f) {
				return 0, fmt.Errorf("bad fraction in %q", s)
			}
			n, _ := strconv.ParseInt(f+strings.Repeat("0", 7-len(f)), 10, 64)
			frac = time.Duration(n) * 100
		}
		parts[2] = sec
	}
	limits := []int64{23, 59, 59}
	units := []time.Duration{time.Hour, time.Minute, time.Second}
	total := time.Duration(days) * 24 * time.Hour
	for i, p := range parts {
		if p == "" || len(p) > 2 || !allDigits(p) {
			return 0, fmt.Errorf("bad field %q in time span", p)
		}
		n, _ := strconv.ParseInt(p, 10, 64)
		if n > limits[i] {
			return 0, fmt.Errorf("field %q out of range in time span", p)
		}
		total += time.Duration(n) * units[i]
	}
	return signed(total+frac, neg), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func signed(d time.Duration, neg bool) time.Duration {
	if neg {
		return -d
	}
	return d
}

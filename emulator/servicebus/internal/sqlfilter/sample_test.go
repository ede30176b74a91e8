package sqlfilter_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/sqlfilter"
)

// officialConfig is the official emulator's sample Config.json, as the
// config package keeps it (unchanged from the emulator installer).
const officialConfig = "../config/testdata/official/Config.json"

// setupSample reads the SQL filter and action of the sample's
// subscription.4 rule.
func setupSample(t *testing.T) (filter, action string) {
	t.Helper()
	raw, err := os.ReadFile(officialConfig)
	if err != nil {
		t.Fatal(err)
	}
	f := regexp.MustCompile(`"SqlFilter"\s*:\s*\{\s*"SqlExpression"\s*:\s*"([^"]*)"`).FindSubmatch(raw)
	a := regexp.MustCompile(`"Action"\s*:\s*\{\s*"SqlExpression"\s*:\s*"([^"]*)"`).FindSubmatch(raw)
	if f == nil || a == nil {
		t.Fatalf("no SqlFilter/Action SqlExpression in %s", officialConfig)
	}
	return string(f[1]), string(a[1])
}

// TestOfficialSample: the sample's rule selects exactly the messages with
// MessageId 123456 and userProp1 = value1, and its action sets To.
func TestOfficialSample(t *testing.T) {
	t.Parallel()
	filterText, actionText := setupSample(t)
	f, err := sqlfilter.ParseFilter(filterText)
	if err != nil {
		t.Fatalf("ParseFilter(%q): %v", filterText, err)
	}
	a, err := sqlfilter.ParseAction(actionText)
	if err != nil {
		t.Fatalf("ParseAction(%q): %v", actionText, err)
	}
	msg := func(id, prop any) *sqlfilter.MapProperties {
		m := &sqlfilter.MapProperties{Sys: map[string]any{}, User: map[string]any{}}
		if id != nil {
			m.Sys[sqlfilter.SysMessageID] = id
		}
		if prop != nil {
			m.User["userProp1"] = prop
		}
		return m
	}
	cases := []struct {
		name string
		m    *sqlfilter.MapProperties
		want bool
	}{
		{"both match", msg("123456", "value1"), true},
		{"other id", msg("654321", "value1"), false},
		{"other value", msg("123456", "value2"), false},
		{"case differs", msg("123456", "VALUE1"), false},
		{"no property", msg("123456", nil), false},
		{"no message id", msg(nil, "value1"), false},
	}
	for _, c := range cases {
		got, err := f.Match(c.m)
		if err != nil || got != c.want {
			t.Errorf("%s: Match = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	m := msg("123456", "value1")
	if err := a.Apply(m); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if m.Sys[sqlfilter.SysTo] != "Entity" {
		t.Errorf("after the action sys.To = %#v, want Entity", m.Sys[sqlfilter.SysTo])
	}
}

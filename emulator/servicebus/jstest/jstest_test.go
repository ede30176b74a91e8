package jstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/config"
)

// installCmd installs the pinned SDK; run from the repository root.
const installCmd = "npm ci --prefix emulator/servicebus/jstest --no-audit --no-fund"

// scriptTimeout bounds one run of the script (it runs its cases concurrently).
const scriptTimeout = 50 * time.Second

// Optional emulator features a case may need (values of EMULATOR_FEATURES).
const (
	featureSessions = "sessions"
	featureSQL      = "sql"
)

// fixture is a running emulator with the entities of every case.
type fixture struct {
	node     string
	srv      *servicebus.Server
	entities map[string]map[string]string // case -> role -> entity name
	features []string
}

var (
	caseLine    = regexp.MustCompile(`^(ok|FAIL|skip) ([a-z0-9-]+)(?:: (.*))?$`)
	summaryLine = regexp.MustCompile(`^(\d+) passed, (\d+) failed, (\d+) skipped$`)
)

// requireNode returns the node binary, or skips the test without node or the installed SDK.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: the JavaScript SDK scripts need Node.js (v18+)")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "@azure", "service-bus", "package.json")); err != nil {
		t.Skipf("@azure/service-bus is not installed in emulator/servicebus/jstest/node_modules; install it with: %s", installCmd)
	}
	return node
}

// startWebSocketEmulator skips without node, the SDK or the ws package, then starts an emulator
// with plain AMQP and its HTTPS/WebSocket port, its CA written to a temporary directory. It returns
// the node binary, the server and that directory.
func startWebSocketEmulator(t *testing.T) (node string, srv *servicebus.Server, certDir string) {
	t.Helper()
	node = requireNode(t)
	if _, err := os.Stat(filepath.Join("node_modules", "ws", "package.json")); err != nil {
		t.Skipf("ws is not installed in emulator/servicebus/jstest/node_modules; install it with: %s", installCmd)
	}
	certDir = t.TempDir()
	srv = startEmulator(t, servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", HTTPSAddr: "127.0.0.1:0", CertDir: certDir})
	return node, srv, certDir
}

// startEmulator starts an emulator for the test and stops it, bounded, when the test ends.
func startEmulator(t *testing.T, cfg servicebus.Config) *servicebus.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	srv, err := servicebus.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("starting emulator: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stopping emulator: %v", err)
		}
	})
	return srv
}

// setup skips without node or the installed SDK, then starts the emulator and creates one set of
// uniquely named entities per case.
func setup(t *testing.T) *fixture {
	t.Helper()
	node := requireNode(t)
	listenKey := randomSuffix(t)
	srv := startEmulator(t, servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", Policies: []servicebus.SharedAccessPolicy{
		{Name: servicebus.DefaultKeyName, PrimaryKey: servicebus.DefaultKey, Rights: servicebus.Manage | servicebus.Send | servicebus.Listen},
		{Name: "js-listen", PrimaryKey: listenKey, Rights: servicebus.Listen},
	}})
	f := &fixture{node: node, srv: srv, entities: map[string]map[string]string{}}
	suffix := randomSuffix(t)
	name := func(parts ...string) string { return "js-" + strings.Join(parts, "-") + "-" + suffix }

	for _, c := range []string{"send-receive-complete", "send-batch", "abandon-redelivery", "dead-letter",
		"renew-message-lock", "defer", "receive-and-delete", "peek", "schedule-cancel", "application-properties", "unauthorized"} {
		q := name(c)
		if err := srv.CreateQueue(servicebus.QueueConfig{Name: q}); err != nil {
			t.Fatal(err)
		}
		f.entities[c] = map[string]string{"queue": q}
	}
	f.entities["entity-not-found"] = map[string]string{"missing": name("missing")}
	listenQueue := name("listen-only")
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: listenQueue}); err != nil {
		t.Fatal(err)
	}
	// Not entities but the policy the case connects with: Listen only.
	f.entities["listen-only-policy"] = map[string]string{"queue": listenQueue, "keyName": "js-listen", "key": listenKey}

	topic := name("corr")
	if err := srv.CreateTopic(servicebus.TopicConfig{Name: topic}); err != nil {
		t.Fatal(err)
	}
	for _, sc := range []servicebus.SubscriptionConfig{
		{Name: "red", Rules: []servicebus.Rule{{Name: "red", Filter: &servicebus.CorrelationFilter{Properties: map[string]any{"color": "red"}}}}},
		{Name: "order1", Rules: []servicebus.Rule{{Name: "order1", Filter: &servicebus.CorrelationFilter{CorrelationID: "order-1"}}}},
	} {
		if err := srv.CreateSubscription(topic, sc); err != nil {
			t.Fatal(err)
		}
	}
	f.entities["topic-correlation-filter"] = map[string]string{"topic": topic, "red": "red", "order1": "order1"}

	ruleTopic := name("rules")
	if err := srv.CreateTopic(servicebus.TopicConfig{Name: ruleTopic}); err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateSubscription(ruleTopic, servicebus.SubscriptionConfig{Name: "s"}); err != nil {
		t.Fatal(err)
	}
	f.entities["rule-manager"] = map[string]string{"topic": ruleTopic, "subscription": "s"}

	for _, c := range []string{"session-accept-by-id", "session-accept-next", "session-state"} {
		q := name(c)
		f.entities[c] = map[string]string{"queue": q}
		if err := srv.CreateQueue(servicebus.QueueConfig{Name: q, RequiresSession: true}); err != nil {
			t.Fatal(err)
		}
	}

	sqlTopic := name("sql")
	f.entities["topic-sql-filter"] = map[string]string{"topic": sqlTopic, "cheap": "cheap", "colors": "colors", "tagged": "tagged"}
	f.createSQLTopic(t, sqlTopic)
	// The emulator has every optional feature the script knows; a case it
	// skips would be a failure here (see run).
	f.features = []string{featureSessions, featureSQL}
	return f
}

// sqlConfig declares the SQL-filtered topic in the official Config.json schema, so the test does
// not depend on the Go type of a SQL rule: the config loader builds it like any Config.json.
const sqlConfig = `{"UserConfig": {"Namespaces": [{"Name": "sbemulatorns", "Queues": [], "Topics": [{
  "Name": %q, "Properties": {}, "Subscriptions": [
    {"Name": "cheap", "Properties": {}, "Rules": [{"Name": "cheap", "Properties": {
      "FilterType": "Sql", "SqlFilter": {"SqlExpression": "price < 10 AND sys.Label = 'order'"}}}]},
    {"Name": "colors", "Properties": {}, "Rules": [{"Name": "colors", "Properties": {
      "FilterType": "Sql", "SqlFilter": {"SqlExpression": "color IN ('blue', 'green') OR color IS NULL"}}}]},
    {"Name": "tagged", "Properties": {}, "Rules": [{"Name": "tagged", "Properties": {
      "FilterType": "Sql", "SqlFilter": {"SqlExpression": "region LIKE 'eu-%%'"},
      "Action": {"SqlExpression": "SET tag = 'seen'"}}}]}]}]}],
  "Logging": {"Type": "Console"}}}`

// createSQLTopic creates the SQL-filtered topic.
func (f *fixture) createSQLTopic(t *testing.T, topic string) {
	t.Helper()
	cfg, err := config.Parse(fmt.Appendf(nil, sqlConfig, topic))
	if err != nil {
		t.Fatalf("parsing the SQL topic config: %v", err)
	}
	for _, te := range cfg.Entities().Topics {
		if err := f.srv.CreateTopic(te.Topic); err != nil {
			t.Fatal(err)
		}
		for _, sc := range te.Subscriptions {
			if err := f.srv.CreateSubscription(te.Topic.Name, sc); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func randomSuffix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// result is one case line of the script's output.
type result struct {
	status string // ok, FAIL or skip
	reason string
}

// run executes conformance.mjs and returns its output and exit error.
func (f *fixture) run(t *testing.T) (string, error) {
	t.Helper()
	ents, err := json.Marshal(f.entities)
	if err != nil {
		t.Fatal(err)
	}
	return runScript(t, f.node, "conformance.mjs", map[string]string{
		"SB_CONNECTION_STRING": f.srv.ConnectionString(),
		"JSTEST_ENTITIES":      string(ents),
		"EMULATOR_FEATURES":    strings.Join(f.features, ","),
	})
}

// runScript runs a script of this directory with env added to (and replacing the same names in)
// the test's environment, bounded by scriptTimeout; it returns the combined output.
func runScript(t *testing.T, node, script string, env map[string]string) (string, error) {
	t.Helper()
	return runScriptFor(t, node, script, env, scriptTimeout)
}

// runScriptFor is runScript bounded by timeout instead of scriptTimeout.
func runScriptFor(t *testing.T, node, script string, env map[string]string, timeout time.Duration) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		_, set := env[name]
		return set
	})
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s killed after %v: %w", script, timeout, ctx.Err())
	}
	return out.String(), err
}

// parse reads the case lines and checks the summary line against them.
func parse(out string) (map[string]result, error) {
	res := map[string]result{}
	counts := map[string]int{}
	summary := false
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\r\n")
		if m := caseLine.FindStringSubmatch(line); m != nil {
			if _, dup := res[m[2]]; dup {
				return nil, fmt.Errorf("case %s reported twice", m[2])
			}
			res[m[2]] = result{status: m[1], reason: m[3]}
			counts[m[1]]++
			continue
		}
		if m := summaryLine.FindStringSubmatch(line); m != nil {
			summary = true
			for i, st := range []string{"ok", "FAIL", "skip"} {
				if n, _ := strconv.Atoi(m[i+1]); n != counts[st] {
					return nil, fmt.Errorf("summary %q disagrees with the %d %q lines", line, counts[st], st)
				}
			}
		}
	}
	if !summary {
		return nil, errors.New("no summary line")
	}
	return res, nil
}

// TestJSConformance runs conformance.mjs once (its cases concurrently) and reports each case as a
// subtest: ok passes; FAIL, and skip (the emulator offers every feature), fail with the script's
// reason.
func TestJSConformance(t *testing.T) {
	t.Parallel()
	f := setup(t)
	out, runErr := f.run(t)
	reportCases(t, "conformance.mjs", slices.Collect(maps.Keys(f.entities)), out, runErr)
}

// reportCases reads a script's output and reports each case as a subtest: ok passes; FAIL, and
// skip (the emulator offers every feature), fail with the script's reason. Output that does
// not account for every case, or an exit status that disagrees with the cases, fails the test.
func reportCases(t *testing.T, script string, cases []string, out string, runErr error) {
	t.Helper()
	res, err := parse(out)
	if err != nil {
		t.Fatalf("unreadable %s output (%v; exit: %v):\n%s", script, err, runErr, out)
	}
	failed := false
	for _, c := range cases {
		if r, ok := res[c]; !ok || r.status == "FAIL" {
			failed = true
		}
	}
	if failed != (runErr != nil) {
		t.Errorf("exit status %v does not match the case results", runErr)
	}
	if failed || runErr != nil {
		t.Logf("%s output:\n%s", script, out)
	}
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			r, ok := res[c]
			switch {
			case !ok:
				t.Errorf("%s did not report case %s", script, c)
			case r.status == "FAIL":
				t.Errorf("JavaScript SDK: %s", r.reason)
			case r.status == "skip":
				// Every feature is offered (setup), so a skip is a missing case.
				t.Errorf("JavaScript SDK skipped the case: %s", r.reason)
			}
		})
	}
}

// TestParse checks that the output reader refuses inconsistent output, so a broken script can
// never pass as green.
func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, out string
		ok        bool
	}{
		{"good", "ok a\nFAIL b: x y\nskip c: no sql\n1 passed, 1 failed, 1 skipped\n", true},
		{"no summary", "ok a\n", false},
		{"summary mismatch", "ok a\nok b\n1 passed, 0 failed, 0 skipped\n", false},
		{"duplicate", "ok a\nok a\n2 passed, 0 failed, 0 skipped\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := parse(tc.out)
			if (err == nil) != tc.ok {
				t.Fatalf("parse error %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && (res["b"] != result{status: "FAIL", reason: "x y"}) {
				t.Errorf("case b = %+v", res["b"])
			}
		})
	}
}

// FuzzParse checks that parse never panics and that whatever it accepts is self-consistent:
// rendering the accepted results again parses to the same results.
func FuzzParse(f *testing.F) {
	f.Add("ok a\nFAIL b: x\nskip c: no sql\n1 passed, 1 failed, 1 skipped\n")
	f.Add("0 passed, 0 failed, 0 skipped")
	f.Fuzz(func(t *testing.T, out string) {
		res, err := parse(out)
		if err != nil {
			return
		}
		var b strings.Builder
		n := map[string]int{}
		for c, r := range res {
			n[r.status]++
			if r.reason == "" {
				fmt.Fprintf(&b, "%s %s\n", r.status, c)
			} else {
				fmt.Fprintf(&b, "%s %s: %s\n", r.status, c, r.reason)
			}
		}
		fmt.Fprintf(&b, "%d passed, %d failed, %d skipped\n", n["ok"], n["FAIL"], n["skip"])
		again, err := parse(b.String())
		if err != nil {
			t.Fatalf("re-rendered output %q: %v", b.String(), err)
		}
		if len(again) != len(res) {
			t.Fatalf("re-rendered %d results, had %d", len(again), len(res))
		}
		for c, r := range res {
			if again[c] != r {
				t.Fatalf("case %s: %+v after re-rendering, was %+v", c, again[c], r)
			}
		}
	})
}

package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/orderflow/orderflow/dashboard"
	"github.com/orderflow/orderflow/functions/apptest"
	"github.com/orderflow/orderflow/shared/deadletter"
	"github.com/orderflow/orderflow/shared/topology"
)

// TestDashboardInBrowser drives the dashboard in headless Chromium on each
// broker: an order's trace shows all five parts (HTTP, PostgreSQL, publish,
// ProcessOrder, SendEmail); with ProcessOrder stopped from the Resources
// page, the next order waits in the queue the Queues page shows; after
// ProcessOrder is started again, the Logs page shows it confirmed.
// DASHBOARD_SCREENSHOTS=<dir> saves screenshots (docs/ holds a set).
func TestDashboardInBrowser(t *testing.T) {
	t.Parallel()
	chromium := browserPath(t)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1400, 900))...)
	defer cancelAlloc()
	for _, c := range apptest.Cases {
		t.Run(c.Name(), func(t *testing.T) { dashboardScenario(t, alloc, c) })
	}
}

func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium on PATH: install the Debian package chromium (.ci/run does)")
	return ""
}

// dashboardScenario runs every step on the Azure target. On the Lambda
// target it runs the steps of the control API (stop, wait, start, restart an
// execution environment) and the logs and metrics; the trace step is
// TestTelemetryOneTracePerOrder's (the order's trace has no root of its own
// name there), and the dead-letter step is the broker's, the same as Azure's
// on RabbitMQ.
func dashboardScenario(t *testing.T, alloc context.Context, c apptest.Case) {
	kind, lambda := c.Broker, c.Target == apptest.Lambda
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dashURL := "http://" + ln.Addr().String()
	a := apptest.Start(t, kind, apptest.Options{OTLPEndpoint: dashURL, Target: c.Target})
	var consumers []string
	for _, s := range topology.Default().Subscriptions {
		consumers = append(consumers, s.Name)
	}
	d, err := dashboard.New(dashboard.Config{Listener: ln, HostURL: a.URL, Broker: string(kind),
		Queues: a.DeadLetters.(deadletter.Inspector), Consumers: consumers, Checks: []dashboard.Check{
			{Name: "PostgreSQL", Kind: "database", Detail: "private test database", Probe: a.DB.Ping},
			{Name: string(kind), Kind: "broker", Detail: "private namespace", Probe: func(ctx context.Context) error {
				_, err := a.DeadLetters.(deadletter.Inspector).Depth(ctx, consumers[0])
				return err
			}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(a.Ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop(context.Background()) })

	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelT()
	shot := func(name string) {
		dir := os.Getenv("DASHBOARD_SCREENSHOTS")
		if dir == "" || kind != apptest.ServiceBus || lambda {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "dashboard-"+name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// waitJS reloads url until the expression holds.
	waitJS := func(what, url, expr string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("main").innerText`))
				if err != nil {
					body = err.Error()
				}
				if resp, err := http.Get(url); err == nil {
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					body += "\n--- GET " + url + ":\n" + string(raw)
				}
				t.Fatalf("timed out waiting for %s; page shows:\n%s", what, body)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	processOrder := "ProcessOrder"
	if kind == apptest.RabbitMQ && !lambda {
		processOrder += "RabbitMQ"
	}

	// 1. An order's trace with all five parts.
	first := a.PlaceOrder(t, seededProduct, 1)
	a.WaitProcessed(t, 1, time.Minute)
	if !lambda {
		orderTraceInBrowser(t, ctx, waitJS, dashURL, first, kind)
		shot("trace")
	}

	// 2. Stop ProcessOrder from the Resources page.
	fnRow := fmt.Sprintf(`tr[data-function=%q]`, processOrder)
	if err := chromedp.Do(ctx, chromedp.Navigate(dashURL+"/resources"),
		chromedp.Click(chromedp.CSS(fnRow+` button[data-action$="/stop"]`)),
		chromedp.WaitVisible(chromedp.CSS(fnRow+`[data-state="stopped"]`))); err != nil {
		t.Fatalf("stopping %s: %v", processOrder, err)
	}

	// 3. The next order waits in process-order.
	second := a.PlaceOrder(t, seededProduct, 1)
	waitJS("order "+second+" waiting in process-order", dashURL+"/queues", `!!document.querySelector('tr[data-consumer="process-order"][data-live="1"]')`)
	shot("queues")
	if c := a.StatusCounts(t); c["pending"] != 1 {
		t.Fatalf("statuses %v with ProcessOrder stopped, want 1 pending", c)
	}

	// 4. Start it again; the order is confirmed and the Logs page says so.
	if err := chromedp.Do(ctx, chromedp.Navigate(dashURL+"/resources"),
		chromedp.Click(chromedp.CSS(fnRow+` button[data-action$="/start"]`)),
		chromedp.WaitVisible(chromedp.CSS(fnRow+`[data-state="running"]`))); err != nil {
		t.Fatalf("starting %s: %v", processOrder, err)
	}
	// The host's health report shows through: the host runs and the
	// restarted trigger's broker connection is up again.
	waitJS(processOrder+" connected again", dashURL+"/resources", fmt.Sprintf(`!!document.querySelector('tr[data-function=%q] td.state.up') &&
		document.getElementById("host-state").textContent.includes("Running")`, processOrder))
	shot("resources")
	waitJS("order "+second+" confirmed in the logs", dashURL+"/logs", fmt.Sprintf(`[...document.querySelectorAll("#logs tr")].some(
		(tr) => tr.innerText.includes("order processed") && tr.innerText.includes(%q) && tr.innerText.includes("confirmed"))`, second))
	shot("logs")
	if c := a.StatusCounts(t); c["confirmed"] != 2 {
		t.Errorf("statuses %v, want 2 confirmed", c)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(dashURL+"/metrics?name=faas.invoke_duration"), chromedp.WaitVisible(chromedp.CSS(`figure.chart`))); err != nil {
		t.Fatalf("metrics chart: %v", err)
	}
	shot("metrics")
	if lambda {
		restartEnvironmentInBrowser(t, ctx, waitJS, dashURL, processOrder)
	}

	// 5. A poison message is dead-lettered; the Queues page counts it as the
	// broker does, browses it, and replays it.
	poison := "poison-" + uuid.NewString()[:8]
	a.PublishRaw(t, poison, []byte("{not json"))
	waitJS("the poison message dead-lettered", dashURL+"/queues", `!!document.querySelector('tr[data-consumer="process-order"][data-dead="1"]')`)
	if msgs, err := a.DeadLetters.List(a.Ctx, "process-order", 10); err != nil || len(msgs) != 1 || msgs[0].ID != poison {
		t.Fatalf("the broker's dead letters: %v, %v; want just %s", msgs, err, poison)
	}
	shot("queues-dead")
	waitJS("the dead letter browsed", dashURL+"/queues/process-order", fmt.Sprintf(`document.getElementById("deadletters").innerText.includes(%q)`, poison))
	err = chromedp.Do(ctx, chromedp.Navigate(dashURL+"/queues"),
		chromedp.Click(chromedp.CSS(`tr[data-consumer="process-order"] button[data-action$="/replay"]`)))
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("status").textContent.includes('"messages":1')`,
			chromedp.WithPollingTimeout(30*time.Second)))
	}
	if err != nil {
		var st string
		st, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
		t.Fatalf("replay from the page: %v (status %q)", err, st)
	}
	// Still poisonous: retried, then dead-lettered again.
	waitJS("the replayed message dead-lettered again", dashURL+"/queues", `!!document.querySelector('tr[data-consumer="process-order"][data-dead="1"]')`)
}

// orderTraceInBrowser opens the order's trace from the Traces page and
// waits for all five parts of it.
func orderTraceInBrowser(t *testing.T, ctx context.Context, waitJS func(what, url, expr string), dashURL, first string, kind apptest.Broker) {
	t.Helper()
	waitJS("the order's trace in the list", dashURL+"/traces", `!!document.querySelector('a[data-root="POST /api/orders"]')`)
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`a[data-root="POST /api/orders"]`), "href"))
	if err != nil {
		t.Fatal(err)
	}
	href := attr.Value
	waitJS("all five spans of order "+first, dashURL+href, `(() => {
		const q = (s) => !!document.querySelector(s);
		return q('details[data-kind="server"][data-name="POST /api/orders"]') &&
			q('details[data-system="postgresql"]') &&
			q('details[data-kind="producer"][data-system="`+string(kind)+`"]') &&
			q('details[data-kind="consumer"][data-function^="ProcessOrder"]') &&
			q('details[data-kind="consumer"][data-function^="SendEmail"]');
	})()`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`details[data-kind="producer"] summary`))); err != nil {
		t.Fatal(err)
	}
}

// restartEnvironmentInBrowser restarts fn's execution environment from the
// Resources page (Lambda target) and waits for its fresh runtime process.
func restartEnvironmentInBrowser(t *testing.T, ctx context.Context, waitJS func(what, url, expr string), dashURL, fn string) {
	t.Helper()
	row := fmt.Sprintf(`[...document.querySelectorAll("#instances tr[data-instance]")].find((tr) => tr.cells[0].textContent.includes(%q))`, "("+fn+")")
	waitJS(fn+"'s environment ready", dashURL+"/resources", row+`?.cells[2].textContent === "ready"`)
	before, err := chromedp.Run(ctx, chromedp.Evaluate[string](row+`.cells[1].textContent`))
	if err != nil {
		t.Fatal(err)
	}
	index, err := chromedp.Run(ctx, chromedp.Evaluate[string](row+`.dataset.instance`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-instance=%q] button[data-action$="/restart"]`, index)))); err != nil {
		t.Fatalf("restarting %s's environment: %v", fn, err)
	}
	waitJS(fn+"'s environment restarted with a new process", dashURL+"/resources", fmt.Sprintf(`(() => { const tr = %s;
		return tr && tr.cells[2].textContent === "ready" && tr.cells[3].textContent === "1" && tr.cells[1].textContent !== %q; })()`, row, before))
}

// Command testhandler is a custom handler for the funchost tests. It records
// every request it gets and misbehaves on demand.
//
// The action comes from the "action" query parameter (raw modes), from
// Data.req.Query.action (payload-mode HTTP) or from the "action" property of a
// JSON string trigger value (manual runs; for a batch, of its first body that
// has one): echo (default), crash, hang,
// sleep (with "ms"), big (a raw response of "ms" MB), fail, badjson, empty, textplain, return, outputs (answers
// with the value's "outputs" object as Outputs).
//
// Environment: TESTHANDLER_RECORD (file to append one JSON line per request),
// TESTHANDLER_CRASH_ON_START=1 (exit 3 before listening), TESTHANDLER_EXIT_AFTER_MS
// (exit 4 that long after listening).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var (
	recordMu sync.Mutex
	workerID = os.Getenv("FUNCTIONS_CUSTOMHANDLER_WORKER_ID")
)

type record struct {
	WorkerID string              `json:"workerId"`
	PID      int                 `json:"pid"`
	Method   string              `json:"method"`
	Path     string              `json:"path"`
	RawQuery string              `json:"rawQuery"`
	Host     string              `json:"host"`
	Headers  map[string][]string `json:"headers"`
	Body     string              `json:"body"`
	Env      map[string]string   `json:"env,omitempty"`
	Cwd      string              `json:"cwd,omitempty"`
	Args     []string            `json:"args,omitempty"`
}

func main() {
	if os.Getenv("TESTHANDLER_CRASH_ON_START") == "1" {
		fmt.Fprintln(os.Stderr, "crashing on start as asked")
		os.Exit(3)
	}
	if os.Getenv("TESTHANDLER_IGNORE_SIGTERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	}
	port := os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	if ms, _ := strconv.Atoi(os.Getenv("TESTHANDLER_EXIT_AFTER_MS")); ms > 0 {
		go func() {
			time.Sleep(time.Duration(ms) * time.Millisecond)
			fmt.Fprintln(os.Stderr, "exiting as asked")
			os.Exit(4)
		}()
	}
	fmt.Println("testhandler listening on", port)
	fmt.Fprintln(os.Stderr, "warn: this line goes to stderr")
	_ = http.Serve(l, http.HandlerFunc(serve))
}

func serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.URL.Path == "/" && r.Method == http.MethodGet {
		fmt.Fprint(w, "ok")
		return
	}
	rec := record{WorkerID: workerID, PID: os.Getpid(), Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Host: r.Host, Headers: r.Header, Body: string(body)}
	if r.URL.Path == "/Env" || strings.HasSuffix(r.URL.Path, "/env") {
		rec.Env = map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			rec.Env[k] = v
		}
		rec.Cwd, _ = os.Getwd()
		rec.Args = os.Args[1:]
	}
	save(rec)
	fmt.Println("handling", r.Method, r.URL.Path)

	action, ms := actionOf(r, body)
	switch action {
	case "crash":
		os.Exit(2)
	case "hang":
		select {}
	case "sleep":
		time.Sleep(time.Duration(ms) * time.Millisecond)
	case "fail":
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "handler failed on purpose")
		return
	case "badjson":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "{not json")
		return
	case "empty":
		w.Header().Set("Content-Type", "application/json")
		return
	case "textplain":
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, `{"Outputs":{}}`)
		return
	case "big":
		// "ms" megabytes of response, for slow-reader tests.
		w.Header().Set("Content-Type", "application/octet-stream")
		chunk := make([]byte, 1<<20)
		for range ms {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		return
	}
	if action == "outputs" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"Outputs": outputsOf(body), "Logs": []string{}})
		return
	}
	isInvocation := r.Method == http.MethodPost && strings.Count(r.URL.Path, "/") == 1 && json.Valid(body) && strings.HasPrefix(strings.TrimSpace(string(body)), `{"Data"`)
	w.Header().Set("Content-Type", "application/json")
	if !isInvocation {
		// Raw (forwarding/proxying) request: echo it.
		w.Header().Set("X-Worker-Id", workerID)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(rec)
		return
	}
	res := map[string]any{
		"statusCode": "200",
		"headers":    map[string]string{"Content-Type": "application/json", "X-Worker-Id": workerID},
		"body":       json.RawMessage(body),
	}
	out := map[string]any{"Logs": []string{"handled by " + workerID}}
	if action == "return" {
		out["ReturnValue"] = res
		out["Outputs"] = map[string]any{}
	} else {
		out["Outputs"] = map[string]any{"res": res}
		out["ReturnValue"] = nil
	}
	_ = json.NewEncoder(w).Encode(out)
}

// actionOf finds the action directive of a request.
func actionOf(r *http.Request, body []byte) (string, int) {
	q := r.URL.Query()
	if a := q.Get("action"); a != "" {
		ms, _ := strconv.Atoi(q.Get("ms"))
		return a, ms
	}
	var p struct {
		Data map[string]json.RawMessage `json:"Data"`
	}
	if json.Unmarshal(body, &p) != nil {
		return "", 0
	}
	for _, v := range p.Data {
		var req struct {
			Query map[string]string `json:"Query"`
		}
		if json.Unmarshal(v, &req) == nil && req.Query["action"] != "" {
			ms, _ := strconv.Atoi(req.Query["ms"])
			return req.Query["action"], ms
		}
		// A string trigger value arrives double-encoded: "\"{...}\"".
		var s string
		if json.Unmarshal(v, &s) == nil {
			var inner string
			if json.Unmarshal([]byte(s), &inner) == nil {
				s = inner
			}
			var d struct {
				Action string `json:"action"`
				MS     int    `json:"ms"`
			}
			if json.Unmarshal([]byte(s), &d) == nil && d.Action != "" {
				return d.Action, d.MS
			}
			// A batch (cardinality many): a JSON string holding an array of
			// bodies; the first body with an action decides.
			var batch []string
			if json.Unmarshal([]byte(s), &batch) == nil {
				for _, item := range batch {
					if json.Unmarshal([]byte(item), &d) == nil && d.Action != "" {
						return d.Action, d.MS
					}
				}
			}
		}
	}
	return "", 0
}

// outputsOf returns the "outputs" object of a JSON string trigger value.
func outputsOf(body []byte) json.RawMessage {
	var p struct {
		Data map[string]json.RawMessage `json:"Data"`
	}
	_ = json.Unmarshal(body, &p)
	for _, v := range p.Data {
		var s string
		if json.Unmarshal(v, &s) != nil {
			continue
		}
		var inner string
		if json.Unmarshal([]byte(s), &inner) == nil {
			s = inner
		}
		var d struct {
			Outputs json.RawMessage `json:"outputs"`
		}
		if json.Unmarshal([]byte(s), &d) == nil && len(d.Outputs) > 0 {
			return d.Outputs
		}
	}
	return json.RawMessage(`{}`)
}

func save(rec record) {
	path := os.Getenv("TESTHANDLER_RECORD")
	if path == "" {
		return
	}
	recordMu.Lock()
	defer recordMu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	b, _ := json.Marshal(rec)
	_, _ = f.Write(append(b, '\n'))
}

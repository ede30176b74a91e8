// Command noop is a custom handler that does nothing but acknowledge queue
// invocations, for the host dispatch benchmark. Each message body is the
// publisher's send time in Unix nanoseconds (text); noop reports the
// publish→handler latency in nanoseconds, 8 bytes big-endian per
// invocation, over one TCP connection to BENCH_REPORT_ADDR.
package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	report, err := net.Dial("tcp", os.Getenv("BENCH_REPORT_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "noop:", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	http.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	http.HandleFunc("POST /{fn}", func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UnixNano()
		var inv struct {
			Data map[string]json.RawMessage
		}
		if err := json.NewDecoder(r.Body).Decode(&inv); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var sent int64
		var s string
		if json.Unmarshal(inv.Data["message"], &s) == nil {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				s = string(b)
			}
			sent, _ = strconv.ParseInt(strings.Trim(s, `"`), 10, 64)
		}
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(now-sent))
		mu.Lock()
		_, err := report.Write(b[:])
		mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"Outputs":{},"Logs":[],"ReturnValue":null}`))
	})
	addr := "127.0.0.1:" + os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	if err := http.ListenAndServe(addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "noop:", err)
		os.Exit(1)
	}
}

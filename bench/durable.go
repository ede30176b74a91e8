package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// durableThroughput measures the emulator with -data-dir (every send and
// completion acknowledged after the write-ahead log's fsync) on the same
// pass as the in-memory run (memory msg/s) and RabbitMQ persistent (rabbit
// msg/s), which is its baseline.
// A second pass keeps at most coldHotBytes of message bytes in memory
// (-hot-bytes), so most deliveries read their message back from the log.
func durableThroughput(ctx context.Context, p throughputParams, memory, rabbit float64) ([]Result, error) {
	var out []Result
	for _, hot := range []int64{0, coldHotBytes} {
		dir, err := os.MkdirTemp("", "bench-durable")
		if err != nil {
			return nil, err
		}
		ours, err := emulatorThroughput(ctx, p, dir, hot)
		os.RemoveAll(dir)
		if err != nil {
			return nil, fmt.Errorf("durable emulator: %w", err)
		}
		name, what := "emulator-throughput-durable", "send+receive+complete, -data-dir (fsync before every acknowledgement, group commit)"
		if hot != 0 {
			name, what = "emulator-throughput-durable-cold", "the same with -hot-bytes 256 KiB: deliveries past it read the message back from the log"
		}
		r := newResult(name, what, "msg/s", ours, rabbit, true)
		r.BaselineName = "RabbitMQ durable queue, persistent, confirms, manual ack"
		r.Target = "≥ 1.0× RabbitMQ"
		r.Params = map[string]any{"messages": p.Messages, "bytes": p.Size, "batch": p.Batch, "sdkConcurrentCompletes": p.Settlers,
			"inMemoryMsgPerSec": int(memory), "durableOverInMemory": fmt.Sprintf("%.2f", ours/memory)}
		if hot != 0 {
			r.Params["hotBytes"] = hot
		}
		out = append(out, r)
	}
	return out, nil
}

// coldHotBytes is the -hot-bytes of the cold durable pass: a few hundred
// 1 KiB messages.
const coldHotBytes = 256 << 10

// durableStartup fills the emulator binary's -data-dir with cfg.startup
// 1 KiB messages, kills it with SIGKILL and measures the next start: from
// process start to the first accepted AMQP connection, recovery and the
// log's compaction included.
func durableStartup(ctx context.Context, cfg runConfig) ([]Result, error) {
	dir, bin, config, err := stageEmulator(ctx, "bench-startup")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	run := func(extra ...string) (*exec.Cmd, string, time.Duration, error) {
		return startEmulatorProc(ctx, bin, config, 5*time.Minute, append([]string{"-data-dir", data}, extra...)...)
	}
	// The filling run keeps little in memory (fillHotBytes), for the
	// RSS per stored message with cold bodies; the measured start has the
	// default -hot-bytes.
	cmd, addr, _, err := run("-hot-bytes", strconv.Itoa(fillHotBytes))
	if err != nil {
		return nil, err
	}
	connStr := fmt.Sprintf("Endpoint=sb://%s;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;", addr)
	fill := time.Now()
	var filledRSS float64
	filledRSS, err = storedRSS(ctx, connStr, cmd.Process.Pid, cfg.startup)
	fillRate := float64(cfg.startup) / time.Since(fill).Seconds()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if err != nil {
		return nil, fmt.Errorf("filling the data directory: %w", err)
	}
	logBytes := int64(0)
	if fi, err := os.Stat(filepath.Join(data, "journal.wal")); err == nil {
		logBytes = fi.Size()
	}
	cmd, _, ready, err := run()
	if err != nil {
		return nil, err
	}
	rss, rssErr := rssKiB(cmd.Process.Pid)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	if rssErr != nil {
		return nil, rssErr
	}
	r := newResult("emulator-durable-startup", "start with stored messages → first accepted AMQP connection (recovery + compaction)", "s", ready.Seconds(), 0, false)
	r.Params = map[string]any{"messages": cfg.startup, "bytes": 1024, "logMB": logBytes >> 20, "rssAfterStartMB": rss >> 10,
		"durableSendOnlyMsgPerSec": int(fillRate), "previousRun": "killed with SIGKILL"}
	r2 := newResult("emulator-durable-rss-per-stored-message", "resident memory per queued 1 KiB message with -data-dir -hot-bytes 16 MiB (RSS growth / messages queued; the rest of the bytes are read back from the log)", "bytes", filledRSS, 0, false)
	r2.Params = map[string]any{"messages": cfg.startup, "bytes": 1024, "batch": 100, "hotBytes": fillHotBytes}
	return []Result{r, r2}, nil
}

// fillHotBytes is the -hot-bytes of the run that fills the data directory.
const fillHotBytes = 16 << 20

// sendBacklog sends n 1 KiB messages in batches of 100 and receives none.
func sendBacklog(ctx context.Context, connStr, queue string, n int) error {
	client, err := azservicebus.NewClientFromConnectionString(connStr, nil)
	if err != nil {
		return err
	}
	defer client.Close(context.WithoutCancel(ctx))
	sender, err := client.NewSender(queue, nil)
	if err != nil {
		return err
	}
	body := make([]byte, 1024)
	for sent := 0; sent < n; {
		batch, err := sender.NewMessageBatch(ctx, nil)
		if err != nil {
			return err
		}
		for i := 0; i < 100 && sent < n; i++ {
			if err := batch.AddMessage(&azservicebus.Message{Body: body}, nil); err != nil {
				return fmt.Errorf("batching the backlog: %w", err)
			}
			sent++
		}
		if err := sender.SendMessageBatch(ctx, batch, nil); err != nil {
			return fmt.Errorf("sending the backlog after %d: %w", sent, err)
		}
	}
	return nil
}

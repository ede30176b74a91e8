package servicebus_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/frames"
)

// BenchmarkSDKSendReceiveComplete measures the SDK round trip of 1 KiB messages: batch send of
// 100, PeekLock receive and Complete of each. It reports msgs/s.
func BenchmarkSDKSendReceiveComplete(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, err := servicebus.Start(ctx, servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-"})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop(context.Background())
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close(context.Background())
	sender, err := client.NewSender("bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	receiver, err := client.NewReceiverForQueue("bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1024)
	const chunk = 100
	b.ResetTimer()
	start := time.Now()
	done := 0
	for done < b.N {
		n := min(chunk, b.N-done)
		batch, err := sender.NewMessageBatch(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		for range n {
			if err := batch.AddMessage(&azservicebus.Message{Body: body}, nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := sender.SendMessageBatch(ctx, batch, nil); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < n; {
			msgs, err := receiver.ReceiveMessages(ctx, n-got, nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, m := range msgs {
				if err := receiver.CompleteMessage(ctx, m, nil); err != nil {
					b.Fatal(err)
				}
			}
			got += len(msgs)
		}
		done += n
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkStartToFirstConnection measures Start until the first client gets its protocol
// header answered, then Stop.
func BenchmarkStartToFirstConnection(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		srv, err := servicebus.Start(ctx, servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		nc, err := net.Dial("tcp", srv.AMQPAddr())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := nc.Write(frames.ProtoSASL[:]); err != nil {
			b.Fatal(err)
		}
		var hdr [8]byte
		if _, err := io.ReadFull(nc, hdr[:]); err != nil || hdr != frames.ProtoSASL {
			b.Fatalf("header % x: %v", hdr, err)
		}
		_ = nc.Close()
		if err := srv.Stop(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// Command deadletter lists, replays and purges the dead-letter queues of the
// order flow's consumers on the configured broker.
//
//	deadletter [-broker servicebus|rabbitmq] [-max N] list|replay|purge CONSUMER
//
// CONSUMER is a subscription name from shared/topology (process-order,
// send-email). The broker and its connection come from the same settings the
// handler reads: BROKER, ServiceBusConnection, RabbitMQConnection; a
// local.settings.json in the current directory is read first when present.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"text/tabwriter"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/orderflow/orderflow/shared/deadletter"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "deadletter:", err)
		os.Exit(1)
	}
}

func run() error {
	loadLocalSettings("local.settings.json")
	broker := flag.String("broker", envOr("BROKER", "servicebus"), "servicebus or rabbitmq")
	max := flag.Int("max", 100, "at most this many messages (list, replay)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: deadletter [-broker servicebus|rabbitmq] [-max N] list|replay|purge CONSUMER")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	verb, consumer := flag.Arg(0), flag.Arg(1)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()

	q, err := open(*broker)
	if err != nil {
		return err
	}
	defer func() {
		if err := q.Close(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintln(os.Stderr, "deadletter: closing the broker connection:", err)
		}
	}()

	switch verb {
	case "list":
		msgs, err := q.List(ctx, consumer, *max)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tREASON\tDELIVERIES\tENQUEUED\tDESCRIPTION\tBODY")
		for _, m := range msgs {
			body := string(m.Body)
			if len(body) > 60 {
				body = body[:57] + "..."
			}
			enq := ""
			if !m.EnqueuedAt.IsZero() {
				enq = m.EnqueuedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\n", m.ID, m.Reason, m.DeliveryCount, enq, m.Description, body)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		fmt.Printf("%d dead-lettered message(s) on %s\n", len(msgs), consumer)
	case "replay":
		n, err := q.Replay(ctx, consumer, *max)
		fmt.Printf("replayed %d message(s) of %s\n", n, consumer)
		return err
	case "purge":
		n, err := q.Purge(ctx, consumer)
		fmt.Printf("purged %d message(s) of %s\n", n, consumer)
		return err
	default:
		flag.Usage()
		os.Exit(2)
	}
	return nil
}

func open(broker string) (deadletter.Queue, error) {
	switch broker {
	case "rabbitmq":
		return deadletter.NewRabbitMQ(deadletter.RabbitMQConfig{URL: os.Getenv("RabbitMQConnection")})
	case "servicebus":
		conn := os.Getenv("ServiceBusConnection")
		if conn == "" {
			return nil, fmt.Errorf("ServiceBusConnection is not set")
		}
		client, err := azservicebus.NewClientFromConnectionString(conn, nil)
		if err != nil {
			return nil, fmt.Errorf("creating Service Bus client: %w", err)
		}
		return deadletter.NewServiceBus(deadletter.ServiceBusConfig{Client: client})
	}
	return nil, fmt.Errorf("unknown broker %q (want servicebus or rabbitmq)", broker)
}

// loadLocalSettings copies the Values of a local.settings.json into the
// environment, without overriding variables that are already set.
func loadLocalSettings(path string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var doc struct{ Values map[string]string }
	if json.Unmarshal(raw, &doc) != nil {
		return
	}
	for k, v := range doc.Values {
		if _, set := os.LookupEnv(k); !set {
			if err := os.Setenv(k, v); err != nil {
				fmt.Fprintf(os.Stderr, "deadletter: %s: setting %q: %v\n", path, k, err)
			}
		}
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

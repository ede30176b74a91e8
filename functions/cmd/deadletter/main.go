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
	"flag"
	"fmt"
	"os"
	"os/signal"
	"text/tabwriter"
	"time"

	"github.com/orderflow/orderflow/shared/deadletter"
	"github.com/orderflow/orderflow/shared/setting"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "deadletter:", err)
		os.Exit(1)
	}
}

func run() error {
	if err := setting.LoadLocalSettings("local.settings.json"); err != nil {
		return err
	}
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

	q, err := deadletter.Open(*broker, os.Getenv("RabbitMQConnection"), os.Getenv("ServiceBusConnection"))
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

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

package rabbitmq

import (
	"context"
	"fmt"

	"github.com/orderflow/orderflow/shared/bus"
)

// QueueDepths returns the ready-message count of every consumer queue and
// its dead-letter queue, read with passive queue declares (no management
// plugin needed). Each call uses its own channel, since a failed passive
// declare closes the channel it ran on.
func (p *Publisher) QueueDepths(ctx context.Context) (map[string]int, error) {
	p.mu.Lock()
	_, err := p.channel(ctx)
	conn := p.conn
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, s := range p.top.Subscriptions {
		for _, q := range []string{s.Name, s.DeadLetterQueue()} {
			ch, err := conn.Channel()
			if err != nil {
				return out, &bus.BrokerError{Broker: broker, Op: "inspect", Err: err}
			}
			st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
			_ = ch.Close()
			if err != nil {
				return out, &bus.BrokerError{Broker: broker, Op: "inspect", Err: fmt.Errorf("queue %q: %w", q, err)}
			}
			out[q] = st.Messages
		}
	}
	return out, nil
}

package funchost

import (
	"context"
	"strings"
)

// Trigger listens for the events of one function and invokes it through a
// Dispatcher, settling its source (message, timer, HTTP request) on the
// result. Each trigger type registers its factory in triggerTypes.
type Trigger interface {
	// Start begins listening; it returns once the trigger is set up.
	Start(ctx context.Context, d Dispatcher) error
	// Stop ends listening and waits, bounded by ctx, for the invocations the
	// trigger started. Safe to call more than once and before Start.
	Stop(ctx context.Context) error
}

// manualRunner is implemented by triggers that build their own payload for a
// manual run (POST /admin/functions/{name}); others get the input as a
// string trigger value.
type manualRunner interface {
	manualPayload(input string) *Payload
}

// triggerFactory builds the trigger of fn from its trigger binding b.
type triggerFactory func(h *Host, fn *Function, b *Binding) (Trigger, error)

// triggerTypes maps a lower-case binding type to its factory. A function whose
// trigger type is missing stops start-up, like a missing extension.
var triggerTypes = map[string]triggerFactory{
	"httptrigger":       newHTTPTrigger,
	"timertrigger":      newTimerTrigger,
	"rabbitmqtrigger":   newRabbitTrigger,
	"servicebustrigger": newSBTrigger,
}

func lookupTrigger(bindingType string) (triggerFactory, bool) {
	f, ok := triggerTypes[strings.ToLower(bindingType)]
	return f, ok
}

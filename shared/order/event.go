package order

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Event contract constants.
const (
	// EventOrderCreated is the type of the OrderCreated event.
	EventOrderCreated = "OrderCreated"
	// OrderCreatedVersion is the version of the OrderCreated contract this
	// code writes. Consumers reject versions they do not know.
	OrderCreatedVersion = 1
	// EventContentType is the content type of every event body.
	EventContentType = "application/json"
)

// OrderCreated is published once per placed order. Field names and types
// are a versioned contract: add fields only with a new version.
type OrderCreated struct {
	Version   int         `json:"version"`
	EventID   uuid.UUID   `json:"eventId"`
	Type      string      `json:"type"`
	OrderID   uuid.UUID   `json:"orderId"`
	Customer  Customer    `json:"customer"`
	Items     []EventItem `json:"items"`
	Total     Money       `json:"total"`
	CreatedAt time.Time   `json:"createdAt"`
}

// EventItem is an order line inside an event.
type EventItem struct {
	ProductID uuid.UUID `json:"productId"`
	Name      string    `json:"name"`
	Quantity  int       `json:"quantity"`
	UnitPrice Money     `json:"unitPrice"`
}

// NewOrderCreated builds the event for a freshly placed order.
func NewOrderCreated(eventID uuid.UUID, o Order) OrderCreated {
	e := OrderCreated{
		Version:   OrderCreatedVersion,
		EventID:   eventID,
		Type:      EventOrderCreated,
		OrderID:   o.ID,
		Customer:  o.Customer,
		Items:     make([]EventItem, len(o.Items)),
		Total:     o.Total,
		CreatedAt: o.CreatedAt.UTC(),
	}
	for i, it := range o.Items {
		e.Items[i] = EventItem{ProductID: it.ProductID, Name: it.Name, Quantity: it.Quantity, UnitPrice: it.UnitPrice}
	}
	return e
}

// ParseOrderCreated decodes an OrderCreated body and checks its type and
// version. Unknown fields are tolerated so newer producers stay readable.
func ParseOrderCreated(b []byte) (OrderCreated, error) {
	var e OrderCreated
	if err := json.Unmarshal(b, &e); err != nil {
		return OrderCreated{}, fmt.Errorf("decoding OrderCreated: %w", err)
	}
	if e.Type != EventOrderCreated || e.Version != OrderCreatedVersion {
		return OrderCreated{}, fmt.Errorf("event type %q version %d: %w", e.Type, e.Version, ErrUnsupportedEvent)
	}
	if e.EventID == uuid.Nil || e.OrderID == uuid.Nil {
		return OrderCreated{}, fmt.Errorf("OrderCreated without eventId or orderId: %w", ErrUnsupportedEvent)
	}
	// Consumers write the address into mail headers: the event gets the
	// same rule as order intake, so a forged or corrupted event is poison.
	if err := ValidateEmail(e.Customer.Email); err != nil {
		return OrderCreated{}, fmt.Errorf("OrderCreated customer email %q %v: %w", e.Customer.Email, err, ErrUnsupportedEvent)
	}
	return e, nil
}

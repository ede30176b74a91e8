package order

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Decision is the outcome of trying to reserve stock for an order.
type Decision struct {
	// Status is StatusConfirmed or StatusRejected.
	Status Status
	// Reason says why an order was rejected; empty when confirmed.
	Reason string
}

// Reserve decides whether every line of an order can be served from
// available stock (product id → units). It is all or nothing: one short
// line rejects the whole order, naming every short product.
func Reserve(items []Item, available map[uuid.UUID]int) Decision {
	var short []string
	for _, it := range items {
		if have := available[it.ProductID]; have < it.Quantity {
			short = append(short, fmt.Sprintf("%s (requested %d, available %d)", it.Name, it.Quantity, have))
		}
	}
	if len(short) > 0 {
		return Decision{Status: StatusRejected, Reason: "insufficient stock: " + strings.Join(short, "; ")}
	}
	return Decision{Status: StatusConfirmed}
}

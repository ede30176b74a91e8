package order

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Status is the lifecycle state of an order.
type Status string

// Order statuses: pending → confirmed | rejected.
const (
	StatusPending   Status = "pending"
	StatusConfirmed Status = "confirmed"
	StatusRejected  Status = "rejected"
)

// CanMoveTo reports whether an order in status s may move to next.
func (s Status) CanMoveTo(next Status) bool {
	return s == StatusPending && (next == StatusConfirmed || next == StatusRejected)
}

// Customer is who placed the order.
type Customer struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Item is one order line; UnitPrice is copied from the product when the
// order is placed.
type Item struct {
	ProductID uuid.UUID `json:"productId"`
	Name      string    `json:"name"`
	Quantity  int       `json:"quantity"`
	UnitPrice Money     `json:"unitPrice"`
	LineTotal Money     `json:"lineTotal"`
}

// Order is a placed order with its lines.
type Order struct {
	ID              uuid.UUID  `json:"id"`
	Status          Status     `json:"status"`
	Customer        Customer   `json:"customer"`
	Items           []Item     `json:"items"`
	Total           Money      `json:"total"`
	CreatedAt       time.Time  `json:"createdAt"`
	UpdatedAt       time.Time  `json:"updatedAt"`
	ConfirmedAt     *time.Time `json:"confirmedAt,omitempty"`
	RejectedAt      *time.Time `json:"rejectedAt,omitempty"`
	RejectionReason string     `json:"rejectionReason,omitempty"`
}

// New prices a validated request against the catalogue and returns a
// pending order. products must hold every requested product.
func New(id uuid.UUID, req CreateRequest, products map[uuid.UUID]Product, now time.Time) (Order, error) {
	o := Order{
		ID:        id,
		Status:    StatusPending,
		Customer:  Customer{Name: req.CustomerName, Email: req.CustomerEmail},
		Items:     make([]Item, 0, len(req.Items)),
		CreatedAt: now,
		UpdatedAt: now,
	}
	for _, it := range req.Items {
		p, ok := products[it.ProductID]
		if !ok {
			return Order{}, fmt.Errorf("pricing order: product %s not in catalogue", it.ProductID)
		}
		line := p.Price.Times(it.Quantity)
		o.Items = append(o.Items, Item{ProductID: p.ID, Name: p.Name, Quantity: it.Quantity, UnitPrice: p.Price, LineTotal: line})
		o.Total = o.Total.Add(line)
	}
	return o, nil
}

// UnknownProducts returns a validation error naming every requested product
// missing from products, or nil.
func UnknownProducts(req CreateRequest, products map[uuid.UUID]Product) error {
	var fe fieldErrors
	for i, it := range req.Items {
		if _, ok := products[it.ProductID]; !ok {
			fe.add(fmt.Sprintf("items[%d].productId", i), "no product with id %s", it.ProductID)
		}
	}
	return fe.err("the order refers to products that do not exist")
}

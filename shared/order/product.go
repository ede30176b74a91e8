package order

import (
	"encoding/json"
	"io"
	"time"

	"github.com/google/uuid"
)

// Product is a catalogue entry.
type Product struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	Price     Money     `json:"price"`
	Stock     int       `json:"stock"`
	CreatedAt time.Time `json:"createdAt"`
}

// Product limits.
const (
	MaxProductNameLen = 200
	MaxStock          = 1_000_000_000
)

// NewProduct is a validated CreateProduct body.
type NewProduct struct {
	Name  string
	Price Money
	Stock int
}

type productJSON struct {
	Name  *string          `json:"name"`
	Price *json.RawMessage `json:"price"`
	Stock *int             `json:"stock"`
}

// DecodeProduct reads and validates a CreateProduct body. The price is a
// decimal string ("12.50") or a JSON number; it is never parsed as float.
func DecodeProduct(r io.Reader) (NewProduct, error) {
	var in productJSON
	if err := decodeStrict(r, &in); err != nil {
		return NewProduct{}, err
	}
	var fe fieldErrors
	p := NewProduct{Name: checkName(&fe, "name", in.Name, MaxProductNameLen)}
	if in.Price == nil {
		fe.add("price", "is required")
	} else {
		var m Money
		switch err := json.Unmarshal(*in.Price, &m); {
		case err != nil:
			fe.add("price", "must be a decimal string with at most two decimal places, like \"12.50\"")
		case m.Decimal().IsNegative() || m.Decimal().GreaterThan(MaxPrice):
			fe.add("price", "must be between 0.00 and %s", MaxPrice.StringFixed(2))
		default:
			p.Price = m
		}
	}
	switch {
	case in.Stock == nil:
		fe.add("stock", "is required")
	case *in.Stock < 0 || *in.Stock > MaxStock:
		fe.add("stock", "must be between 0 and %d", MaxStock)
	default:
		p.Stock = *in.Stock
	}
	if err := fe.err("the product is not valid"); err != nil {
		return NewProduct{}, err
	}
	return p, nil
}

package order

import (
	"encoding/json"
	"fmt"

	"github.com/shopspring/decimal"
)

// Money is an exact amount with two decimal places. It is serialised in JSON
// as a decimal string ("12.50") so no client ever parses it as a float.
type Money struct{ amount decimal.Decimal }

// MaxPrice is the largest unit price a product may have. It keeps the
// largest possible order (100 items x 1000 units) within NUMERIC(12,2).
var MaxPrice = decimal.RequireFromString("99999.99")

// NewMoney rounds d to cents.
func NewMoney(d decimal.Decimal) Money { return Money{amount: d.Round(2)} }

// ParseMoney parses a decimal string with at most two fractional digits.
func ParseMoney(s string) (Money, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return Money{}, fmt.Errorf("parsing money %q: %w", s, err)
	}
	if d.Exponent() < -2 && !d.Equal(d.Round(2)) {
		return Money{}, fmt.Errorf("money %q has more than two decimal places", s)
	}
	return NewMoney(d), nil
}

// Decimal returns the amount.
func (m Money) Decimal() decimal.Decimal { return m.amount }

// String formats the amount with exactly two decimals.
func (m Money) String() string { return m.amount.StringFixed(2) }

// Add returns m + o.
func (m Money) Add(o Money) Money { return Money{amount: m.amount.Add(o.amount)} }

// Times returns m multiplied by a quantity.
func (m Money) Times(q int) Money { return Money{amount: m.amount.Mul(decimal.NewFromInt(int64(q)))} }

// Equal reports whether both amounts are the same.
func (m Money) Equal(o Money) bool { return m.amount.Equal(o.amount) }

// MarshalJSON writes the amount as a decimal string.
func (m Money) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

// UnmarshalJSON reads a decimal string or a JSON number without going
// through float64.
func (m *Money) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	} else {
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		s = n.String()
	}
	v, err := ParseMoney(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

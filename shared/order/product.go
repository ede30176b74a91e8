package order

import (
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

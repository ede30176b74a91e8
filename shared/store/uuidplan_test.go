package store

import (
	"bytes"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

func TestUUIDEncodesDirectly(t *testing.T) {
	t.Parallel()
	m := pgtype.NewMap()
	registerUUID(m)
	u, v := uuid.New(), uuid.New()
	if p := m.PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, u); p == nil {
		t.Fatal("no encode plan for uuid.UUID")
	} else if _, ok := p.(*uuidEncodePlan); !ok {
		t.Fatalf("encode plan for uuid.UUID is %T, want *uuidEncodePlan", p)
	}
	buf, err := m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, u, nil)
	if err != nil || !bytes.Equal(buf, u[:]) {
		t.Fatalf("Encode(uuid) = %x, %v; want %x", buf, err, u[:])
	}
	buf, err = m.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, []uuid.UUID{u, v}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []uuid.UUID
	if err := m.Scan(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, buf, &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []uuid.UUID{u, v}) {
		t.Fatalf("[]uuid.UUID round trip = %v, want %v", got, []uuid.UUID{u, v})
	}
}

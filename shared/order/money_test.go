package order_test

import (
	"encoding/json"
	"testing"

	"github.com/orderflow/orderflow/shared/order"
)

func TestMoneyJSON(t *testing.T) {
	t.Parallel()
	m, err := order.ParseMoney("12.5")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m.Times(3).Add(m))
	if string(b) != `"50.00"` {
		t.Fatalf("got %s", b)
	}
	var back order.Money
	if err := json.Unmarshal([]byte(`"0.10"`), &back); err != nil || back.String() != "0.10" {
		t.Fatalf("got %v %v", back, err)
	}
	if _, err := order.ParseMoney("0.001"); err == nil {
		t.Fatal("three decimals accepted")
	}
	if _, err := order.ParseMoney("1.100"); err != nil {
		t.Fatalf("trailing zero rejected: %v", err)
	}
}

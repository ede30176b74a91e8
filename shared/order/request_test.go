package order_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/shared/order"
)

const (
	pidA = "a0000000-0000-4000-8000-000000000001"
	pidB = "a0000000-0000-4000-8000-000000000002"
)

func setup(t *testing.T, body string) (order.CreateRequest, *order.ValidationError) {
	t.Helper()
	req, err := order.DecodeCreate(strings.NewReader(body))
	if err == nil {
		return req, nil
	}
	var ve *order.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("DecodeCreate(%q) returned a non-client error: %v", body, err)
	}
	return req, ve
}

func TestDecodeCreateValid(t *testing.T) {
	t.Parallel()
	req, ve := setup(t, `{"customerName":" Ana ","customerEmail":"ana@example.com","items":[{"productId":"`+pidA+`","quantity":2},{"productId":"`+pidB+`","quantity":1000}]}`)
	if ve != nil {
		t.Fatal(ve)
	}
	if req.CustomerName != "Ana" || req.CustomerEmail != "ana@example.com" || len(req.Items) != 2 ||
		req.Items[0].Quantity != 2 || req.Items[1].ProductID.String() != pidB {
		t.Fatalf("unexpected request %+v", req)
	}
}

func TestDecodeCreateRejects(t *testing.T) {
	t.Parallel()
	item := func(q string) string { return `{"productId":"` + pidA + `","quantity":` + q + `}` }
	body := func(name, email, items string) string {
		return fmt.Sprintf(`{"customerName":%s,"customerEmail":%s,"items":%s}`, name, email, items)
	}
	cases := []struct {
		name, body string
		kind       order.Kind
		field      string
	}{
		{"empty body", ``, order.Malformed, ""},
		{"not json", `hello`, order.Malformed, ""},
		{"truncated", `{"customerName":"a"`, order.Malformed, ""},
		{"array", `[]`, order.Malformed, ""},
		{"trailing data", body(`"a"`, `"a@b.co"`, `[`+item("1")+`]`) + `{}`, order.Malformed, ""},
		{"unknown field", `{"customerName":"a","customerEmail":"a@b.co","items":[],"price":1}`, order.Malformed, "price"},
		{"unknown item field", body(`"a"`, `"a@b.co"`, `[{"productId":"`+pidA+`","quantity":1,"unitPrice":"0.01"}]`), order.Malformed, "items[0].unitPrice"},
		{"name wrong type", body(`5`, `"a@b.co"`, `[`+item("1")+`]`), order.Malformed, "customerName"},
		{"quantity string", body(`"a"`, `"a@b.co"`, `[`+item(`"1"`)+`]`), order.Malformed, "items[0].quantity"},
		{"quantity fraction", body(`"a"`, `"a@b.co"`, `[`+item(`1.5`)+`]`), order.Malformed, "items[0].quantity"},
		{"quantity huge", body(`"a"`, `"a@b.co"`, `[`+item(`1e30`)+`]`), order.Malformed, "items[0].quantity"},
		{"quantity zero", body(`"a"`, `"a@b.co"`, `[`+item(`0`)+`]`), order.Invalid, "items[0].quantity"},
		{"quantity negative", body(`"a"`, `"a@b.co"`, `[`+item(`-1`)+`]`), order.Invalid, "items[0].quantity"},
		{"quantity too big", body(`"a"`, `"a@b.co"`, `[`+item(`1001`)+`]`), order.Invalid, "items[0].quantity"},
		{"missing name", `{"customerEmail":"a@b.co","items":[` + item("1") + `]}`, order.Invalid, "customerName"},
		{"blank name", body(`"   "`, `"a@b.co"`, `[`+item("1")+`]`), order.Invalid, "customerName"},
		{"long name", body(`"`+strings.Repeat("é", 201)+`"`, `"a@b.co"`, `[`+item("1")+`]`), order.Invalid, "customerName"},
		{"bad email", body(`"a"`, `"not-an-email"`, `[`+item("1")+`]`), order.Invalid, "customerEmail"},
		{"email with name", body(`"a"`, `"Ana <a@b.co>"`, `[`+item("1")+`]`), order.Invalid, "customerEmail"},
		{"null items", body(`"a"`, `"a@b.co"`, `null`), order.Invalid, "items"},
		{"empty items", body(`"a"`, `"a@b.co"`, `[]`), order.Invalid, "items"},
		{"too many items", body(`"a"`, `"a@b.co"`, `[`+strings.Repeat(item("1")+",", 100)+item("1")+`]`), order.Invalid, "items"},
		{"bad product id", body(`"a"`, `"a@b.co"`, `[{"productId":"p1","quantity":1}]`), order.Invalid, "items[0].productId"},
		{"missing product id", body(`"a"`, `"a@b.co"`, `[{"quantity":1}]`), order.Invalid, "items[0].productId"},
		{"duplicate product", body(`"a"`, `"a@b.co"`, `[`+item("1")+`,`+item("2")+`]`), order.Invalid, "items[1].productId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, ve := setup(t, tc.body)
			if ve == nil {
				t.Fatal("accepted")
			}
			if ve.Kind != tc.kind {
				t.Errorf("kind = %d, want %d (%v)", ve.Kind, tc.kind, ve)
			}
			if tc.field != "" && (len(ve.Fields) == 0 || ve.Fields[0].Field != tc.field) {
				t.Errorf("fields = %+v, want first %q", ve.Fields, tc.field)
			}
		})
	}
}

func TestDecodeProduct(t *testing.T) {
	t.Parallel()
	p, err := order.DecodeProduct(strings.NewReader(`{"name":"Tea","price":"3.5","stock":7}`))
	if err != nil || p.Price.String() != "3.50" || p.Stock != 7 || p.Name != "Tea" {
		t.Fatalf("got %+v, %v", p, err)
	}
	p, err = order.DecodeProduct(strings.NewReader(`{"name":"Tea","price":0.1,"stock":0}`))
	if err != nil || p.Price.String() != "0.10" {
		t.Fatalf("number price: got %+v, %v", p, err)
	}
	for _, bad := range []string{
		`{"name":"Tea","price":"-1","stock":1}`,
		`{"name":"Tea","price":"1.001","stock":1}`,
		`{"name":"Tea","price":"100000","stock":1}`,
		`{"name":"Tea","price":"abc","stock":1}`,
		`{"name":"Tea","price":"1","stock":-1}`,
		`{"name":"","price":"1","stock":1}`,
		`{"name":"Tea","price":true,"stock":1}`,
	} {
		var ve *order.ValidationError
		if _, err := order.DecodeProduct(strings.NewReader(bad)); !errors.As(err, &ve) {
			t.Errorf("%s: want ValidationError, got %v", bad, err)
		}
	}
}

// FuzzCreateOrderDecode checks that no input panics the decoder and that
// every rejection is a client error (never a server-class failure), and
// that every accepted request obeys the documented limits.
func FuzzCreateOrderDecode(f *testing.F) {
	f.Add(`{"customerName":"Ana","customerEmail":"ana@example.com","items":[{"productId":"` + pidA + `","quantity":2}]}`)
	f.Add(`{"customerName":"Ana","customerEmail":"ana@example.com","items":[{"productId":"` + pidA + `","quantity":-2}]}`)
	f.Add(`{"items":[null,{}]}`)
	f.Add(`[1,2,3]`)
	f.Fuzz(func(t *testing.T, body string) {
		req, ve := setup(t, body)
		if ve != nil {
			if ve.Kind != order.Malformed && ve.Kind != order.Invalid {
				t.Fatalf("unknown kind %d", ve.Kind)
			}
			return
		}
		if req.CustomerName == "" || len(req.Items) < 1 || len(req.Items) > order.MaxItems {
			t.Fatalf("accepted invalid request %+v", req)
		}
		seen := map[string]bool{}
		for _, it := range req.Items {
			if it.Quantity < 1 || it.Quantity > order.MaxQuantity || seen[it.ProductID.String()] {
				t.Fatalf("accepted invalid item %+v", it)
			}
			seen[it.ProductID.String()] = true
		}
	})
}

package order

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits of a CreateOrder request.
const (
	MaxCustomerNameLen = 200
	MaxEmailLen        = 254
	MaxItems           = 100
	MaxQuantity        = 1000
)

// CreateRequest is a validated CreateOrder body. Duplicate product ids are
// rejected rather than merged, so that what the client sent is exactly what
// is stored.
type CreateRequest struct {
	CustomerName  string
	CustomerEmail string
	Items         []ItemRequest
}

// ItemRequest is one requested line.
type ItemRequest struct {
	ProductID uuid.UUID
	Quantity  int
}

// ProductIDs returns the requested product ids in request order.
func (r CreateRequest) ProductIDs() []uuid.UUID {
	ids := make([]uuid.UUID, len(r.Items))
	for i, it := range r.Items {
		ids[i] = it.ProductID
	}
	return ids
}

type createJSON struct {
	CustomerName  *string            `json:"customerName"`
	CustomerEmail *string            `json:"customerEmail"`
	Items         *[]json.RawMessage `json:"items"`
}

type itemJSON struct {
	ProductID *string `json:"productId"`
	Quantity  *int    `json:"quantity"`
}

// DecodeCreate reads and validates a CreateOrder body. Client mistakes come
// back as *ValidationError; any other error is the reader's.
func DecodeCreate(r io.Reader) (CreateRequest, error) {
	var in createJSON
	if err := decodeStrict(r, &in); err != nil {
		return CreateRequest{}, err
	}
	var fe fieldErrors
	req := CreateRequest{
		CustomerName:  checkName(&fe, "customerName", in.CustomerName, MaxCustomerNameLen),
		CustomerEmail: checkEmail(&fe, "customerEmail", in.CustomerEmail),
	}
	switch {
	case in.Items == nil:
		fe.add("items", "is required")
	case len(*in.Items) == 0:
		fe.add("items", "must hold at least one item")
	case len(*in.Items) > MaxItems:
		fe.add("items", "must hold at most %d items, got %d", MaxItems, len(*in.Items))
	default:
		seen := make(map[uuid.UUID]int, len(*in.Items))
		for i, raw := range *in.Items {
			item := ItemRequest{}
			field := fmt.Sprintf("items[%d]", i)
			var it itemJSON
			// Items are decoded one by one so type errors can name the index.
			if err := decodeStrictPrefix(bytes.NewReader(raw), &it, field); err != nil {
				return CreateRequest{}, err
			}
			switch {
			case it.ProductID == nil:
				fe.add(field+".productId", "is required")
			default:
				id, err := uuid.Parse(*it.ProductID)
				if err != nil || len(*it.ProductID) != 36 {
					fe.add(field+".productId", "must be a UUID like 123e4567-e89b-12d3-a456-426614174000")
					break
				}
				if first, dup := seen[id]; dup {
					fe.add(field+".productId", "duplicates items[%d]; put the whole quantity in one item", first)
					break
				}
				seen[id] = i
				item.ProductID = id
			}
			switch {
			case it.Quantity == nil:
				fe.add(field+".quantity", "is required")
			case *it.Quantity < 1 || *it.Quantity > MaxQuantity:
				fe.add(field+".quantity", "must be between 1 and %d, got %d", MaxQuantity, *it.Quantity)
			default:
				item.Quantity = *it.Quantity
			}
			req.Items = append(req.Items, item)
		}
	}
	if err := fe.err("the order is not valid"); err != nil {
		return CreateRequest{}, err
	}
	return req, nil
}

// decodeStrict decodes exactly one JSON object into v, rejecting unknown
// fields and trailing data.
func decodeStrict(r io.Reader, v any) error { return decodeStrictPrefix(r, v, "") }

// decodeStrictPrefix is decodeStrict for a nested value at path prefix.
func decodeStrictPrefix(r io.Reader, v any, prefix string) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return malformed(err, prefix)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			return &ValidationError{Kind: Malformed, Detail: "the body must hold exactly one JSON object; found data after it"}
		}
		return malformed(err, prefix)
	}
	return nil
}

// malformed turns a JSON decoding error into a ValidationError; errors from
// the underlying reader are returned wrapped.
func malformed(err error, prefix string) error {
	join := func(field string) string {
		switch {
		case prefix == "":
			return field
		case field == "":
			return prefix
		}
		return prefix + "." + field
	}
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return &ValidationError{Kind: Malformed, Detail: "the body is empty; expected a JSON object"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &ValidationError{Kind: Malformed, Detail: "the body is truncated JSON"}
	case errors.As(err, &syn):
		return &ValidationError{Kind: Malformed, Detail: fmt.Sprintf("the body is not valid JSON (at byte %d): %s", syn.Offset, syn.Error())}
	case errors.As(err, &typ):
		field := join(jsonPath(typ.Field))
		if field == "" {
			return &ValidationError{Kind: Malformed, Detail: fmt.Sprintf("the body must be a JSON object, not %s", typ.Value)}
		}
		return &ValidationError{Kind: Malformed, Detail: "a field has the wrong JSON type",
			Fields: []FieldError{{Field: field, Message: fmt.Sprintf("must be %s, not %s", jsonType(typ.Type.Kind().String()), typ.Value)}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return &ValidationError{Kind: Malformed, Detail: "the body has a field this API does not know",
			Fields: []FieldError{{Field: join(strings.Trim(name, `"`)), Message: "unknown field"}}}
	case strings.HasPrefix(err.Error(), "json: "):
		// Any other complaint of encoding/json about the document itself.
		return &ValidationError{Kind: Malformed, Detail: "the body is not acceptable JSON: " + err.Error()}
	}
	return fmt.Errorf("reading body: %w", err)
}

// jsonPath turns encoding/json's "items.3.quantity" into "items[3].quantity".
func jsonPath(p string) string {
	parts := strings.Split(p, ".")
	var b strings.Builder
	for _, s := range parts {
		if s == "" {
			continue
		}
		if s[0] >= '0' && s[0] <= '9' {
			b.WriteString("[" + s + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func jsonType(goKind string) string {
	switch goKind {
	case "int", "int64", "int32":
		return "an integer"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "ptr":
		return "an object"
	}
	return "of another type"
}

func checkName(fe *fieldErrors, field string, v *string, maxLen int) string {
	if v == nil {
		fe.add(field, "is required")
		return ""
	}
	s := strings.TrimSpace(*v)
	n := utf8.RuneCountInString(s)
	switch {
	case !utf8.ValidString(s):
		fe.add(field, "must be valid UTF-8")
	case n == 0:
		fe.add(field, "must not be empty")
	case n > maxLen:
		fe.add(field, "must be at most %d characters, got %d", maxLen, n)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		fe.add(field, "must not contain control characters")
	default:
		return s
	}
	return ""
}

func checkEmail(fe *fieldErrors, field string, v *string) string {
	if v == nil {
		fe.add(field, "is required")
		return ""
	}
	s := strings.TrimSpace(*v)
	if err := ValidateEmail(s); err != nil {
		fe.add(field, "%s", err.Error())
		return ""
	}
	return s
}

// ValidateEmail is the one rule for a customer's e-mail address, applied
// at order intake and again by every consumer of an event: a bare address
// (no display name, no comment), at most MaxEmailLen bytes, a dotted
// domain, nothing net/mail would have to clean up, so the value is safe to
// write into a mail header as is.
func ValidateEmail(s string) error {
	if len(s) > MaxEmailLen {
		return fmt.Errorf("must be at most %d characters", MaxEmailLen)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || strings.ContainsAny(s, "\r\n") ||
		!strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return errors.New("must be a plain email address like ana@example.com")
	}
	return nil
}

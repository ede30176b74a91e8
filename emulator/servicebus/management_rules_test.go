package servicebus

import (
	"testing"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// FuzzRuleDescription decodes arbitrary AMQP as an add-rule rule-description: it must never panic,
// and an accepted rule must encode for enumerate-rules with its name.
func FuzzRuleDescription(f *testing.F) {
	for _, m := range []enc.Map{
		{{Key: "sql-filter", Value: enc.Map{{Key: "expression", Value: "a = 1"}}},
			{Key: "sql-rule-action", Value: enc.Map{{Key: "expression", Value: "SET b = 2"}}}},
		{{Key: "correlation-filter", Value: enc.Map{{Key: "label", Value: "x"},
			{Key: "properties", Value: enc.Map{{Key: "p", Value: int64(1)}}}}}},
		{{Key: "sql-filter", Value: enc.Map{{Key: "expression", Value: "1=1"}}}},
	} {
		b, err := enc.AppendMap(nil, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("rule", b)
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		v, _, err := enc.Decode(data)
		if err != nil {
			return
		}
		r, err := ruleFromDescription(name, v)
		if err != nil {
			return
		}
		d := ruleDescription(r)
		fields, ok := d.Value.([]any)
		if d.Descriptor != descRuleDescription || !ok || len(fields) != 3 || fields[2] != name {
			t.Fatalf("rule %q encoded as %#v", name, d)
		}
		if _, err := enc.Append(nil, d); err != nil {
			t.Fatalf("encoding rule %q: %v", name, err)
		}
		if r.Filter == nil {
			t.Fatal("accepted rule without filter")
		}
		if _, isTrue := r.Filter.(broker.TrueFilter); isTrue {
			t.Fatal("add-rule never makes a TrueFilter")
		}
	})
}

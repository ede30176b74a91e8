package sqlfilter_test

import (
	"errors"
	"fmt"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/sqlfilter"
)

// The official emulator sample's rule: a SQL filter with an action. A
// broker evaluates the filter on each topic message and applies the action
// to the subscription's copy.
func Example() {
	filter, err := sqlfilter.ParseFilter("sys.MessageId = '123456' AND userProp1 = 'value1'")
	if err != nil {
		fmt.Println(err)
		return
	}
	action, err := sqlfilter.ParseAction("SET sys.To = 'Entity'")
	if err != nil {
		fmt.Println(err)
		return
	}
	msg := &sqlfilter.MapProperties{
		Sys:  map[string]any{sqlfilter.SysMessageID: "123456"},
		User: map[string]any{"userProp1": "value1"},
	}
	ok, err := filter.Match(msg)
	fmt.Println("match:", ok, err)
	if ok {
		if err := action.Apply(msg); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println("to:", msg.Sys[sqlfilter.SysTo])

	// Parse errors carry the position; evaluation errors are typed.
	_, err = sqlfilter.ParseFilter("sys.MessageId = ")
	fmt.Println(err)
	bad, _ := sqlfilter.ParseFilter("userProp1 = 1")
	_, err = bad.Match(msg)
	fmt.Println(errors.Is(err, sqlfilter.ErrTypeMismatch), err)
	// Output:
	// match: true <nil>
	// to: Entity
	// sqlfilter: 1:17: expected expression after "=", found end of text
	// true sqlfilter: 1:11: type mismatch: operator = is not defined for string and long
}

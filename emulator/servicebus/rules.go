package servicebus

import (
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/sqlfilter"
)

// SQLFilter is a rule filter in the Service Bus SQL filter language; make one with NewSQLFilter.
// A message for which it cannot be evaluated does not match (and is logged at warn level).
type SQLFilter = broker.SQLFilter

// NewSQLFilter parses a SQL filter expression for Rule.Filter; errors give line and column.
func NewSQLFilter(expr string) (*SQLFilter, error) { return broker.NewSQLFilter(expr) }

// SQLAction is a rule action in the Service Bus SQL action language (SET/REMOVE statements);
// make one with NewSQLAction.
type SQLAction = sqlfilter.Action

// NewSQLAction parses a SQL rule action for Rule.Action; "" means no action (nil). Each matching
// rule with an action gives the subscription its own copy of the message, changed by the action
// and carrying the application property RuleName.
func NewSQLAction(expr string) (*SQLAction, error) { return broker.NewSQLAction(expr) }

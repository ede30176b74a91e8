// Package order is the domain core of the order flow: orders, their items,
// money, validation of client requests, the order state machine and the
// versioned event contracts published on the broker. It does no I/O.
package order

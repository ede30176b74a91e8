// Package handler (imported as wire) holds the invocation envelope as
// encoding/json decodes it generically. It is the handler's slow path for
// envelopes outside the shape the host sends, and it bears the package and
// type names the handler's Invocation had, because encoding/json quotes them
// in its errors ("… into Go value of type handler.Invocation"), which reach
// the host in the failed invocation's Logs: those stay word for word.
package handler

import "encoding/json"

// Invocation is the {"Data":{…},"Metadata":{…}} body as maps of raw values.
type Invocation struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

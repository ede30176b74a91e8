package frames

import (
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// SASL frame descriptors (part 5, section 5.3.3).
const (
	codeSASLMechanisms uint64 = 0x40
	codeSASLInit       uint64 = 0x41
	codeSASLChallenge  uint64 = 0x42
	codeSASLResponse   uint64 = 0x43
	codeSASLOutcome    uint64 = 0x44
)

// SASL outcome codes.
const (
	SASLOK   uint8 = 0
	SASLAuth uint8 = 1
	SASLSys  uint8 = 2
)

// SASLMechanisms advertises the server's mechanisms (sasl-server-mechanisms is mandatory).
type SASLMechanisms struct{ Mechanisms []enc.Symbol }

// AppendAMQP encodes sasl-mechanisms.
func (m *SASLMechanisms) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeSASLMechanisms)
	vals := make([]any, len(m.Mechanisms))
	for i, s := range m.Mechanisms {
		vals[i] = s
	}
	w.value(enc.Array{Code: enc.TypeSym32, Values: vals})
	return w.done()
}

// SASLInit selects a mechanism (mechanism is mandatory).
type SASLInit struct {
	Mechanism       enc.Symbol
	InitialResponse []byte
	Hostname        string
}

// AppendAMQP encodes sasl-init.
func (m *SASLInit) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeSASLInit)
	w.sym(string(m.Mechanism), true)
	w.binary(m.InitialResponse, m.InitialResponse != nil)
	w.str(m.Hostname, m.Hostname != "")
	return w.done()
}

// SASLChallenge carries a challenge (challenge is mandatory).
type SASLChallenge struct{ Challenge []byte }

// AppendAMQP encodes sasl-challenge.
func (m *SASLChallenge) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeSASLChallenge)
	w.binary(m.Challenge, true)
	return w.done()
}

// SASLResponse answers a challenge (response is mandatory).
type SASLResponse struct{ Response []byte }

// AppendAMQP encodes sasl-response.
func (m *SASLResponse) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeSASLResponse)
	w.binary(m.Response, true)
	return w.done()
}

// SASLOutcome ends the exchange (code is mandatory).
type SASLOutcome struct {
	Code           uint8
	AdditionalData []byte
}

// AppendAMQP encodes sasl-outcome.
func (m *SASLOutcome) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeSASLOutcome)
	w.ubyte(&m.Code)
	w.binary(m.AdditionalData, m.AdditionalData != nil)
	return w.done()
}

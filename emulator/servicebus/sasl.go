package servicebus

import (
	"bytes"
	"fmt"
	"time"

	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/frames"
)

// SASL mechanisms offered, in preference order. The SDKs pick ANONYMOUS and authorize through
// CBS; PLAIN checks a policy's key name and key and authorizes the connection; MSSBCBS defers to
// CBS like ANONYMOUS.
var saslMechanisms = []enc.Symbol{"ANONYMOUS", "PLAIN", "MSSBCBS"}

// sasl runs the SASL layer (part 5, section 5.3) after the SASL protocol headers.
func (c *conn) sasl() error {
	if err := c.writeSASL(&frames.SASLMechanisms{Mechanisms: saslMechanisms}); err != nil {
		return err
	}
	h, body, err := c.r.Next()
	if err != nil {
		return fmt.Errorf("reading sasl-init: %w", err)
	}
	p, _, err := frames.Parse(h.Type, body)
	if err != nil {
		return fmt.Errorf("parsing sasl-init: %w", err)
	}
	init, ok := p.(*frames.SASLInit)
	if !ok || h.Type != frames.TypeSASL {
		return fmt.Errorf("expected sasl-init, got %T", p)
	}
	code := frames.SASLOK
	switch init.Mechanism {
	case "ANONYMOUS", "MSSBCBS":
	case "PLAIN":
		if !c.checkPlain(init.InitialResponse) {
			code = frames.SASLAuth
		}
	default:
		code = frames.SASLAuth
	}
	if err := c.writeSASL(&frames.SASLOutcome{Code: code}); err != nil {
		return err
	}
	if code != frames.SASLOK {
		return fmt.Errorf("SASL %s refused", init.Mechanism)
	}
	return nil
}

// checkPlain verifies "\x00user\x00password" (a policy's key name and one of its keys); the
// connection then holds the policy's claims on its scope for its lifetime.
func (c *conn) checkPlain(resp []byte) bool {
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 {
		return false
	}
	g, err := c.srv.authz.Plain(string(parts[1]), string(parts[2]))
	if err != nil {
		return false
	}
	c.grants.Put(g, time.Now())
	return true
}

func (c *conn) writeSASL(p frames.Performative) error {
	b, err := frames.Append(nil, frames.TypeSASL, 0, p, nil)
	if err != nil {
		return err
	}
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("writing SASL frame: %w", err)
	}
	return nil
}

package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/auth"
)

// AuthFileName is the file of shared access policies read next to a Config.json. The official
// emulator has no such file (it knows only RootManageSharedAccessKey); keeping the policies out of
// Config.json lets the same Config.json serve both emulators.
const AuthFileName = "Auth.json"

// Auth is the shared access policy file:
//
//	{
//	  // comments as in Config.json
//	  "SharedAccessPolicies": [
//	    {"Name": "orders-sender", "PrimaryKey": "k1", "Rights": ["Send"], "Entity": "orders"},
//	    {"Name": "auditor", "PrimaryKey": "k2", "SecondaryKey": "k3", "Rights": ["Listen"]}
//	  ]
//	}
//
// Entity (a queue or topic name) limits a policy to that entity and what is below it; without it
// the policy covers the namespace. Rights are "Manage", "Send", "Listen"; Manage needs the other
// two, as on Service Bus. Names are unique case-insensitively; a policy named
// RootManageSharedAccessKey replaces the default one (to change its key).
type Auth struct {
	SharedAccessPolicies []SharedAccessPolicy
}

// SharedAccessPolicy is one entry of Auth.
type SharedAccessPolicy struct {
	Name         string
	PrimaryKey   string
	SecondaryKey string
	Rights       []string
	Entity       string
}

// LoadAuth reads and validates an Auth file.
func LoadAuth(path string) (*Auth, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading shared access policies: %w", err)
	}
	a, err := ParseAuth(data)
	if err != nil {
		return nil, fmt.Errorf("shared access policies %s: %w", path, err)
	}
	return a, nil
}

// ParseAuth parses and validates an Auth document; all problems are reported together.
func ParseAuth(data []byte) (*Auth, error) {
	var a Auth
	if err := decodeStrict(data, &a); err != nil {
		return nil, err
	}
	if _, err := a.Policies(); err != nil {
		return nil, err
	}
	return &a, nil
}

// Policies converts the file's policies, checking each one (name, keys, rights, entity name) and
// that names are unique.
func (a *Auth) Policies() ([]auth.Policy, error) {
	v := &validator{}
	out := make([]auth.Policy, 0, len(a.SharedAccessPolicies))
	seen := map[string]bool{}
	for i, p := range a.SharedAccessPolicies {
		where := fmt.Sprintf("SharedAccessPolicies[%d]", i)
		if p.Name != "" {
			where = fmt.Sprintf("policy %q", p.Name)
		}
		pol := auth.Policy{Name: p.Name, PrimaryKey: p.PrimaryKey, SecondaryKey: p.SecondaryKey, Entity: p.Entity}
		for _, r := range p.Rights {
			right, err := auth.ParseRight(r)
			if err != nil {
				v.fail(ErrInvalid, "%s: Rights: claim %q: want Manage, Send or Listen", where, r)
				continue
			}
			pol.Rights |= right
		}
		if p.Entity != "" && !namePattern.MatchString(p.Entity) {
			v.fail(ErrInvalid, "%s: Entity %q is not a queue or topic name", where, p.Entity)
		}
		if err := auth.ValidatePolicy(pol); err != nil {
			v.fail(ErrInvalid, "%s: %s", where, strings.TrimSuffix(err.Error(), ": "+auth.ErrInvalidConfig.Error()))
		}
		if key := strings.ToLower(p.Name); p.Name != "" && seen[key] {
			v.fail(ErrInvalid, "%s: defined twice", where)
		} else {
			seen[key] = true
		}
		out = append(out, pol)
	}
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	return out, nil
}

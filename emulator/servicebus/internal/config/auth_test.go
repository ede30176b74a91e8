package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/auth"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/config"
)

func TestParseAuth(t *testing.T) {
	t.Parallel()
	a, err := config.ParseAuth([]byte(`{
		// policies beyond the default one
		"SharedAccessPolicies": [
			{"Name": "orders-sender", "PrimaryKey": "k1", "Rights": ["Send"], "Entity": "orders"},
			{"Name": "admin", "PrimaryKey": "k2", "SecondaryKey": "k3", "Rights": ["manage", "send", "listen"]}
		]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := a.Policies()
	if err != nil {
		t.Fatal(err)
	}
	want := []auth.Policy{
		{Name: "orders-sender", PrimaryKey: "k1", Rights: auth.Send, Entity: "orders"},
		{Name: "admin", PrimaryKey: "k2", SecondaryKey: "k3", Rights: auth.All},
	}
	if len(ps) != len(want) || ps[0] != want[0] || ps[1] != want[1] {
		t.Fatalf("policies %+v, want %+v", ps, want)
	}
}

func TestParseAuthErrors(t *testing.T) {
	t.Parallel()
	for doc, want := range map[string]string{
		`{"SharedAccessPolicies": [{"Name": "a", "PrimaryKey": "k", "Rights": ["Write"]}]}`:                                                      `claim "Write"`,
		`{"SharedAccessPolicies": [{"Name": "a", "PrimaryKey": "k", "Rights": ["Manage"]}]}`:                                                     "Manage requires Send and Listen",
		`{"SharedAccessPolicies": [{"Name": "a", "Rights": ["Send"]}]}`:                                                                          "PrimaryKey is required",
		`{"SharedAccessPolicies": [{"PrimaryKey": "k", "Rights": ["Send"]}]}`:                                                                    "name is required",
		`{"SharedAccessPolicies": [{"Name": "a", "PrimaryKey": "k", "Rights": ["Send"], "Entity": "-bad-"}]}`:                                    `Entity "-bad-"`,
		`{"SharedAccessPolicies": [{"Name": "a", "PrimaryKey": "k", "Rights": ["Send"]}, {"Name": "A", "PrimaryKey": "k", "Rights": ["Send"]}]}`: "defined twice",
		`{"SharedAccessPolicies": [{"Name": "a", "Key": "k"}]}`:                                                                                  "unknown field",
		`{"SharedAccessPolicies": [}`: "line 1",
	} {
		_, err := config.ParseAuth([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", doc, err, want)
		}
		if err != nil && !errors.Is(err, config.ErrInvalid) && !errors.Is(err, config.ErrSyntax) {
			t.Errorf("%s: %v is neither ErrInvalid nor ErrSyntax", doc, err)
		}
	}
}

func TestLoadAuth(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), config.AuthFileName)
	if err := os.WriteFile(path, []byte(`{"SharedAccessPolicies": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.LoadAuth(path); err != nil {
		t.Fatal(err)
	}
	if _, err := config.LoadAuth(path + ".missing"); err == nil {
		t.Fatal("missing file loaded")
	}
}

func FuzzParseAuth(f *testing.F) {
	f.Add([]byte(`{"SharedAccessPolicies": [{"Name": "a", "PrimaryKey": "k", "Rights": ["Send"], "Entity": "q"}]}`))
	f.Add([]byte(`{/* c */ "SharedAccessPolicies": null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := config.ParseAuth(data)
		if err != nil {
			return
		}
		ps, err := a.Policies()
		if err != nil {
			t.Fatalf("parsed document fails validation: %v", err)
		}
		if len(ps) > 0 {
			if _, err := auth.New(auth.Config{Policies: ps}); err != nil {
				t.Fatalf("valid policies refused by auth.New: %v", err)
			}
		}
	})
}

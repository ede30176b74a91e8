package identity_test

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/orderflow/orderflow/shared/identity"
)

func TestCredential(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		managed  bool
		clientID string
	}{
		{true, "00000000-0000-0000-0000-000000000001"}, // user-assigned, as the Bicep deploys it
		{true, ""}, // system-assigned
		{false, "00000000-0000-0000-0000-000000000001"}, // a client id alone does not ask for managed identity
		{false, ""},
	} {
		cred, err := identity.Credential(c.managed, c.clientID)
		if err != nil {
			t.Fatalf("credential %v/%q: %v", c.managed, c.clientID, err)
		}
		_, mi := cred.(*azidentity.ManagedIdentityCredential)
		_, def := cred.(*azidentity.DefaultAzureCredential)
		if mi != c.managed || def == c.managed {
			t.Errorf("credential %v/%q is %T, want managed identity=%v", c.managed, c.clientID, cred, c.managed)
		}
	}
}

// Package identity picks the Microsoft Entra credential the app's adapters
// authenticate with (Service Bus, PostgreSQL): one rule for both, so a
// deployment's identity settings mean the same everywhere.
package identity

import (
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Credential returns a managed identity credential when managed is set,
// for the user-assigned identity clientID (empty: the system-assigned one),
// and otherwise the default chain (environment, workload identity, managed
// identity, Azure CLI, azd), which covers developer logins; clientID then
// plays no part. It does no I/O.
func Credential(managed bool, clientID string) (azcore.TokenCredential, error) {
	if managed {
		opts := &azidentity.ManagedIdentityCredentialOptions{}
		if clientID != "" {
			opts.ID = azidentity.ClientID(clientID)
		}
		c, err := azidentity.NewManagedIdentityCredential(opts)
		if err != nil {
			return nil, fmt.Errorf("creating managed identity credential: %w", err)
		}
		return c, nil
	}
	c, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("creating default Azure credential: %w", err)
	}
	return c, nil
}

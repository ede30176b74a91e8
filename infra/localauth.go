package infra

import (
	"errors"
	"fmt"
)

// localAuthRule is one property that must hold a fixed value on every
// resource of a type, so that only Microsoft Entra identities get in.
type localAuthRule struct {
	typ, path, want, why string
}

// localAuthRules turn off every key- or password-based way in. (Service Bus
// disableLocalAuth is checked by TopologyDerived with the namespace.)
var localAuthRules = []localAuthRule{
	{"Microsoft.Storage/storageAccounts", "properties.allowSharedKeyAccess", "false", "no account keys or SAS"},
	{"Microsoft.Storage/storageAccounts", "properties.allowBlobPublicAccess", "false", "no anonymous blob access"},
	{"Microsoft.Storage/storageAccounts", "properties.minimumTlsVersion", "'TLS1_2'", "TLS 1.2"},
	{"Microsoft.Insights/components", "properties.DisableLocalAuth", "true", "Entra-authenticated ingestion only"},
	{"Microsoft.OperationalInsights/workspaces", "properties.features.disableLocalAuth", "true", "no workspace shared keys"},
	{"Microsoft.DBforPostgreSQL/flexibleServers", "properties.authConfig.passwordAuth", "'Disabled'", "no PostgreSQL passwords"},
	{"Microsoft.DBforPostgreSQL/flexibleServers", "properties.authConfig.activeDirectoryAuth", "'Enabled'", "Microsoft Entra logins"},
	{"Microsoft.Web/sites", "properties.httpsOnly", "true", "HTTPS only"},
}

// LocalAuthDisabled checks that storage, Application Insights, Log Analytics
// and PostgreSQL accept Microsoft Entra identities only, and that each of
// these resources is declared (an absent resource would pass vacuously).
func (c Checker) LocalAuthDisabled() error {
	t, err := c.read()
	if err != nil {
		return err
	}
	var errs []error
	for _, rule := range localAuthRules {
		var declared []located
		for _, r := range t.resources(rule.typ) {
			if !r.d.Existing {
				declared = append(declared, r)
			}
		}
		if len(declared) == 0 {
			errs = append(errs, &Finding{File: c.dir(), Msg: fmt.Sprintf("no %s resource declared", rule.typ)})
		}
		for _, r := range declared {
			if got, _ := r.d.Value.Body().Prop(rule.path); got.String() != rule.want {
				errs = append(errs, r.finding("%s: %s must be %s (%s), got %q", r.d.Name, rule.path, rule.want, rule.why, got.String()))
			}
		}
	}
	return errors.Join(errs...)
}

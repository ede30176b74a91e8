package infra

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

const siteType = "Microsoft.Web/sites"

// forbiddenSettings are key- or password-based forms of the connections the
// app makes; their identity-based forms are required instead.
var forbiddenSettings = map[string]string{
	"AzureWebJobsStorage":                      "storage connection string; use AzureWebJobsStorage__accountName",
	"ServiceBusConnection":                     "Service Bus connection string; use ServiceBusConnection__fullyQualifiedNamespace",
	"APPINSIGHTS_INSTRUMENTATIONKEY":           "instrumentation key; use Entra ingestion (APPLICATIONINSIGHTS_AUTHENTICATION_STRING)",
	"WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "Azure Files content share needs an account key",
}

// classicOnlySettings must not reach a Flex Consumption app, which takes the
// runtime and package from functionAppConfig (infra/DEPLOY.md).
var classicOnlySettings = []string{"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE"}

// appSetting is one entry of the function app's appSettings as written.
type appSetting struct {
	name  string // literal name, or the raw name expression when dynamic
	value Expr
	// via lists the variables the entry was reached through, outermost first.
	via []string
	// loopVar and loopSrc are set when the entry comes from a for-expression.
	loopVar, loopSrc string
	line             int
}

// AppSettings checks the function app's settings against the app:
//   - every name in Settings and HostSettings is set; none in LocalOnly or
//     forbiddenSettings is;
//   - __credential settings are 'managedidentity', POSTGRES_AUTH is 'entra',
//     every __clientId and AZURE_CLIENT_ID carry the same identity client ID;
//   - RabbitMQConnection and SMTP_PASSWORD come from @secure() params;
//   - FUNCTIONS_WORKER_RUNTIME (and the other classic-only settings) are
//     added only when the plan is not Flex, and on Flex functionAppConfig
//     sets runtime name 'custom';
//   - the inactive broker's trigger functions are disabled by
//     AzureWebJobs.<Function>[RabbitMQ].Disabled settings generated from the
//     topology's subscriptions.
func (c Checker) AppSettings() error {
	site, settings, err := c.siteSettings()
	if err != nil {
		return err
	}
	byName := map[string]appSetting{}
	for _, s := range settings {
		byName[s.name] = s
	}

	var errs []error
	required := append(append([]string(nil), HostSettings...), c.Settings...)
	sort.Strings(required)
	for i, name := range required {
		if i > 0 && required[i-1] == name {
			continue
		}
		if _, ok := byName[name]; !ok {
			errs = append(errs, site.finding("app setting %s is not set (the app reads it in Azure)", name))
		}
	}
	for _, s := range settings {
		if reason, bad := forbiddenSettings[s.name]; bad {
			errs = append(errs, &Finding{File: site.f.Path, Line: s.line, Msg: fmt.Sprintf("app setting %s is forbidden: %s", s.name, reason)})
		}
		if reason, local := c.LocalOnly[s.name]; local {
			errs = append(errs, &Finding{File: site.f.Path, Line: s.line, Msg: fmt.Sprintf("app setting %s is local-only (%s) and must not be set in Azure", s.name, reason)})
		}
	}
	errs = append(errs, checkSettingValues(site, byName)...)
	expr, _ := site.d.Value.Body().Prop("properties.siteConfig.appSettings")
	errs = append(errs, c.checkClassicOnly(site, byName, expr)...)
	errs = append(errs, c.checkDisabledTriggers(site, settings)...)
	return errors.Join(errs...)
}

// siteSettings finds the one function app and collects its app settings.
func (c Checker) siteSettings() (located, []appSetting, error) {
	t, err := c.read()
	if err != nil {
		return located{}, nil, err
	}
	var sites []located
	for _, s := range t.resources(siteType) {
		if !s.d.Existing {
			sites = append(sites, s)
		}
	}
	if len(sites) != 1 {
		return located{}, nil, &Finding{File: c.dir(), Msg: fmt.Sprintf("want one %s resource, found %d", siteType, len(sites))}
	}
	site := sites[0]
	expr, ok := site.d.Value.Body().Prop("properties.siteConfig.appSettings")
	if !ok {
		return located{}, nil, site.finding("site %s has no properties.siteConfig.appSettings", site.d.Name)
	}
	return site, collectSettings(site.f, expr, nil, site.d.Line, map[string]bool{}), nil
}

// checkSettingValues checks the identity-based values.
func checkSettingValues(site located, byName map[string]appSetting) []error {
	var errs []error
	bad := func(s appSetting, format string, args ...any) {
		errs = append(errs, &Finding{File: site.f.Path, Line: s.line, Msg: fmt.Sprintf("app setting %s: ", s.name) + fmt.Sprintf(format, args...)})
	}
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	sort.Strings(names)
	clientID := ""
	for _, name := range names {
		s := byName[name]
		switch {
		case strings.HasSuffix(name, "__credential"):
			if lit, _ := s.value.Lit(); lit != "managedidentity" {
				bad(s, "must be 'managedidentity', got %q", s.value.String())
			}
		case strings.HasSuffix(name, "__clientId") || name == "AZURE_CLIENT_ID":
			if _, lit := s.value.Lit(); lit {
				bad(s, "must be the identity's client ID (a reference), not a literal")
			} else if clientID == "" {
				clientID = s.value.String()
			} else if s.value.String() != clientID {
				bad(s, "must be the same identity client ID as the others (%s), got %s", clientID, s.value.String())
			}
		}
	}
	if s, ok := byName["POSTGRES_AUTH"]; ok {
		if lit, _ := s.value.Lit(); lit != "entra" {
			bad(s, "must be 'entra' (password authentication is disabled), got %q", s.value.String())
		}
	}
	for _, name := range []string{"RabbitMQConnection", "SMTP_PASSWORD"} {
		s, ok := byName[name]
		if !ok {
			continue
		}
		id, isIdent := s.value.Ident()
		d, found := site.f.Decl(id)
		if !isIdent || !found || d.Kind != "param" || !d.Secure() {
			bad(s, "must come from a @secure() param, got %q", s.value.String())
		}
	}
	return errs
}

// checkClassicOnly checks that the classic-only settings are reached through
// a variable that appSettings includes only as `<flex> ? [] : var`, and that
// the Flex functionAppConfig selects the custom runtime.
func (c Checker) checkClassicOnly(site located, byName map[string]appSetting, appSettings Expr) []error {
	var errs []error
	for _, name := range classicOnlySettings {
		s, ok := byName[name]
		if !ok {
			continue
		}
		// The guard may sit in appSettings itself or in any variable on
		// the way to the setting.
		texts := []string{appSettings.String()}
		for _, v := range s.via {
			if val, ok := site.f.Var(v); ok {
				texts = append(texts, val.String())
			}
		}
		guarded := false
		for _, v := range s.via {
			guard := regexp.MustCompile(`([A-Za-z_]\w*)\s*\?\s*\[\]\s*:\s*` + regexp.QuoteMeta(v) + `\b`)
			for _, text := range texts {
				for _, m := range guard.FindAllStringSubmatch(text, -1) {
					cond, _ := site.f.Var(m[1])
					guarded = guarded || strings.Contains(cond.String(), "'flex'")
				}
			}
		}
		if !guarded {
			errs = append(errs, &Finding{File: site.f.Path, Line: s.line, Msg: fmt.Sprintf("app setting %s must be added only off Flex Consumption (as `isFlex ? [] : var`)", name)})
		}
	}
	fac, _ := site.d.Value.Body().Prop("properties.functionAppConfig")
	runtimeOK := false
	for _, id := range identToken.FindAllString(fac.String(), -1) {
		if v, ok := site.f.Var(id); ok {
			if name, _ := v.Prop("runtime.name"); name.String() == "'custom'" {
				runtimeOK = true
			}
		}
	}
	if name, _ := fac.Prop("runtime.name"); name.String() == "'custom'" {
		runtimeOK = true
	}
	if !runtimeOK {
		errs = append(errs, site.finding("site %s: functionAppConfig must set runtime name 'custom' for Flex Consumption", site.d.Name))
	}
	return errs
}

// checkDisabledTriggers checks the generated AzureWebJobs.<F>.Disabled
// settings: a loop over the topology's subscriptions naming both the Service
// Bus function (<F>) and its RabbitMQ twin (<F>RabbitMQ).
func (c Checker) checkDisabledTriggers(site located, settings []appSetting) []error {
	topoVar := c.topologyVar(site.f)
	for _, s := range settings {
		if s.loopVar == "" || topoVar == "" || s.loopSrc != topoVar+".subscriptions" {
			continue
		}
		sb := "AzureWebJobs.${" + s.loopVar + ".function}.Disabled"
		rmq := "AzureWebJobs.${" + s.loopVar + ".function}RabbitMQ.Disabled"
		if strings.Contains(s.name, sb) && strings.Contains(s.name, rmq) {
			if lit, _ := s.value.Lit(); lit == "true" {
				return nil
			}
		}
	}
	return []error{site.finding("site %s: no app settings loop over the topology's subscriptions disabling the inactive broker's triggers (AzureWebJobs.<Function>.Disabled / AzureWebJobs.<Function>RabbitMQ.Disabled = 'true')", site.d.Name)}
}

// collectSettings walks an appSettings expression: array literals of
// {name, value} objects, for-expressions, and any variables referenced
// (through concat(), ternaries, …). seen stops cycles.
func collectSettings(f *File, e Expr, via []string, line int, seen map[string]bool) []appSetting {
	if items := e.Items(); items != nil {
		var out []appSetting
		for _, it := range items {
			name, _ := it.Prop("name")
			value, _ := it.Prop("value")
			n, ok := name.Lit()
			if !ok {
				n = name.String()
			}
			out = append(out, appSetting{name: n, value: value, via: via, line: line})
		}
		return out
	}
	if v, src, ok := e.Loop(); ok {
		body := e.Body()
		name, _ := body.Prop("name")
		value, _ := body.Prop("value")
		return []appSetting{{name: name.String(), value: value, via: via, loopVar: v, loopSrc: src, line: line}}
	}
	var out []appSetting
	for _, id := range identToken.FindAllString(e.String(), -1) {
		d, ok := f.Decl(id)
		if !ok || d.Kind != "var" || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, collectSettings(f, d.Value, append(append([]string(nil), via...), id), d.Line, seen)...)
	}
	return out
}

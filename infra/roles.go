package infra

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Role is a built-in Azure role the app identity holds on one resource.
type Role struct {
	// Name is the role's display name.
	Name string
	// ID is the built-in role definition ID.
	ID string
	// Scope is the resource type the assignment is scoped to.
	Scope string
}

// IdentityRoles is exactly what the app identity needs (Azure built-in role
// IDs, see infra/DEPLOY.md): publish and consume on the namespace, host
// storage, and telemetry ingestion. Nothing else may be assigned.
var IdentityRoles = []Role{
	{Name: "Azure Service Bus Data Sender", ID: "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39", Scope: "Microsoft.ServiceBus/namespaces"},
	{Name: "Azure Service Bus Data Receiver", ID: "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0", Scope: "Microsoft.ServiceBus/namespaces"},
	{Name: "Storage Blob Data Owner", ID: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b", Scope: "Microsoft.Storage/storageAccounts"},
	{Name: "Monitoring Metrics Publisher", ID: "3913510d-42f4-4e42-8a64-420c390055eb", Scope: "Microsoft.Insights/components"},
}

const (
	roleAssignmentType = "Microsoft.Authorization/roleAssignments"
	identityType       = "Microsoft.ManagedIdentity/userAssignedIdentities"
)

var guidPattern = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// Roles checks that the role assignments are exactly IdentityRoles: each
// scoped to a resource of the listed type (never the resource group), with
// principalType ServicePrincipal, a principal ID param that main.bicep fills
// with the identity module's principalId, and no other assignment.
func (c Checker) Roles() error {
	t, err := c.read()
	if err != nil {
		return err
	}
	var errs []error
	identityModules := t.identityModules()
	if len(identityModules) == 0 {
		errs = append(errs, &Finding{File: c.dir(), Msg: "no module deploys a " + identityType})
	}
	found := map[Role]bool{}
	for _, ra := range t.resources(roleAssignmentType) {
		role, problems := t.roleOf(ra, identityModules)
		errs = append(errs, problems...)
		if role == (Role{}) {
			continue
		}
		if !isIdentityRole(role) {
			errs = append(errs, ra.finding("role %s on %s is not one the app needs (least privilege: only %s)", role.ID, role.Scope, roleNames()))
			continue
		}
		found[role] = true
	}
	for _, want := range IdentityRoles {
		if !found[want] {
			errs = append(errs, &Finding{File: c.dir(), Msg: fmt.Sprintf("no role assignment gives the identity %s (%s) on %s", want.Name, want.ID, want.Scope)})
		}
	}
	return errors.Join(errs...)
}

// roleOf reads one role assignment: its role ID, the type of its scope, and
// problems with its principal.
func (t tree) roleOf(ra located, identityModules []string) (Role, []error) {
	var errs []error
	body := ra.d.Value.Body()
	def, ok := body.Prop("properties.roleDefinitionId")
	if !ok {
		return Role{}, []error{ra.finding("role assignment %s has no properties.roleDefinitionId", ra.d.Name)}
	}
	id := resolveGUID(ra.f, def)
	if id == "" {
		return Role{}, []error{ra.finding("role assignment %s: role definition ID %q is not a literal GUID or a variable holding one", ra.d.Name, def.String())}
	}
	scopeType := "resource group"
	if s, ok := body.Prop("scope"); ok {
		if name, ok := s.Ident(); ok {
			if d, ok := ra.f.Decl(name); ok && d.Kind == "resource" {
				scopeType, _ = d.ResourceType()
			}
		}
	}
	if pt, _ := body.Prop("properties.principalType"); pt.String() != "'ServicePrincipal'" {
		errs = append(errs, ra.finding("role assignment %s: principalType must be 'ServicePrincipal'", ra.d.Name))
	}
	principal, _ := body.Prop("properties.principalId")
	errs = append(errs, t.checkPrincipal(ra, principal, identityModules)...)
	return Role{ID: strings.ToLower(id), Scope: scopeType, Name: roleName(id)}, errs
}

// checkPrincipal checks that the principal is a param of the module that
// every caller fills with <identity module>.outputs.principalId.
func (t tree) checkPrincipal(ra located, principal Expr, identityModules []string) []error {
	name, ok := principal.Ident()
	if d, found := ra.f.Decl(name); !ok || !found || d.Kind != "param" {
		return []error{ra.finding("role assignment %s: principalId must be a param filled with the identity's principalId", ra.d.Name)}
	}
	callers := t.modulesOf(ra.f)
	if len(callers) == 0 {
		return []error{ra.finding("role assignment %s: no module deploys %s, so its principal is unchecked", ra.d.Name, ra.f.Path)}
	}
	var errs []error
	for _, m := range callers {
		v, _ := m.d.Value.Body().Prop("params." + name)
		ok := false
		for _, id := range identityModules {
			ok = ok || v.String() == id+".outputs.principalId"
		}
		if !ok {
			errs = append(errs, m.finding("module %s: param %s must be the identity module's outputs.principalId, got %q", m.d.Name, name, v.String()))
		}
	}
	return errs
}

// identityModules returns the names of modules that deploy a user-assigned
// identity and output its principalId.
func (t tree) identityModules() []string {
	var out []string
	for _, r := range t.resources(identityType) {
		for _, m := range t.modulesOf(r.f) {
			out = append(out, m.d.Name)
		}
	}
	return out
}

// resolveGUID finds the role GUID in e, directly or through variables of f.
func resolveGUID(f *File, e Expr) string {
	if g := guidPattern.FindString(e.String()); g != "" {
		return g
	}
	for _, id := range identToken.FindAllString(e.String(), -1) {
		if v, ok := f.Var(id); ok {
			if lit, ok := v.Lit(); ok && guidPattern.MatchString(lit) && len(lit) == 36 {
				return lit
			}
		}
	}
	return ""
}

func isIdentityRole(r Role) bool {
	for _, want := range IdentityRoles {
		if want == r {
			return true
		}
	}
	return false
}

func roleName(id string) string {
	for _, r := range IdentityRoles {
		if strings.EqualFold(r.ID, id) {
			return r.Name
		}
	}
	return ""
}

func roleNames() string {
	var names []string
	for _, r := range IdentityRoles {
		names = append(names, r.Name+" on "+r.Scope)
	}
	return strings.Join(names, ", ")
}

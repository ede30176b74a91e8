package aws

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation/serverless"
)

// Route is one HTTP route the app serves.
type Route struct {
	// Name is the Azure function that serves it (the SAM event's name).
	Name string
	// Method is the HTTP method, upper case.
	Method string
	// Path is the full path with {parameters}, e.g. /api/orders/{id}.
	Path string
	// Protected routes need an authorizer (authLevel other than anonymous).
	Protected bool
}

// Consumer is one queue-triggered function.
type Consumer struct {
	// Function is the Lambda function (logical ID).
	Function string
	// Queue is the RabbitMQ queue it consumes.
	Queue string
}

// Want is what the app needs from the template; tests derive it from the
// code (functions/lambda, the functions' function.json, shared/topology,
// shared/setting).
type Want struct {
	// Functions are the logical IDs, each with ORDERFLOW_FUNCTION = its ID.
	Functions []string
	// HTTPFunction serves Routes.
	HTTPFunction string
	// Routes are every HTTP route.
	Routes []Route
	// Consumers are the queue mappings.
	Consumers []Consumer
	// ScheduledFunction runs on a schedule (OutboxRelay).
	ScheduledFunction string
	// FunctionSetting is the setting naming the function (ORDERFLOW_FUNCTION).
	FunctionSetting string
	// Settings must be set on every function; a non-empty value must match.
	Settings map[string]string
	// Forbidden settings must not be set, with the reason.
	Forbidden map[string]string
	// SecretSetting names the setting holding the broker secret's ARN; the
	// functions must be allowed to read exactly that secret.
	SecretSetting string
}

// Check runs every check and joins the findings.
func (t *Template) Check(w Want) error {
	return errors.Join(t.CheckFunctions(w), t.CheckRoutes(w), t.CheckQueues(w), t.CheckSettings(w),
		t.CheckPermissions(w), t.CheckSecrets(), t.CheckPlatform())
}

func find(check, res, format string, args ...any) error {
	return &Finding{Check: check, Resource: res, Msg: fmt.Sprintf(format, args...)}
}

// CheckFunctions checks: every function exists, names itself, and runs the
// bootstrap on provided.al2023 from make package-lambda's zip.
func (t *Template) CheckFunctions(w Want) error {
	var errs []error
	fns := t.Functions()
	for _, name := range w.Functions {
		f, ok := fns[name]
		if !ok {
			errs = append(errs, find("functions", name, "no AWS::Serverless::Function %s", name))
			continue
		}
		if got := f.Env[w.FunctionSetting]; got != name {
			errs = append(errs, find("functions", name, "%s is %q, want %q", w.FunctionSetting, got, name))
		}
		if s(f.Props.Runtime) != "provided.al2023" {
			errs = append(errs, find("functions", name, "Runtime %q, want provided.al2023", s(f.Props.Runtime)))
		}
		if s(f.Props.Handler) != "bootstrap" {
			errs = append(errs, find("functions", name, "Handler %q, want bootstrap", s(f.Props.Handler)))
		}
		if len(f.Props.Architectures) != 1 || !slices.Contains([]string{"arm64", "x86_64"}, f.Props.Architectures[0]) {
			errs = append(errs, find("functions", name, "Architectures %v, want [arm64] or [x86_64]", f.Props.Architectures))
		}
		if f.Props.CodeUri == nil || f.Props.CodeUri.String == nil || !strings.HasSuffix(*f.Props.CodeUri.String, "dist/lambda.zip") {
			errs = append(errs, find("functions", name, "CodeUri must be make package-lambda's dist/lambda.zip"))
		}
	}
	for name := range fns {
		if !slices.Contains(w.Functions, name) {
			errs = append(errs, find("functions", name, "not a function of the app"))
		}
	}
	return errors.Join(errs...)
}

// CheckRoutes checks: the HTTP function has one HttpApi event per route, payload
// format 2.0, on the template's HttpApi, with an authorizer on protected
// routes; the HttpApi uses the $default stage (paths without a stage).
func (t *Template) CheckRoutes(w Want) error {
	var errs []error
	apis := t.cf.GetAllServerlessHttpApiResources()
	if len(apis) != 1 {
		return find("routes", "", "want exactly one AWS::Serverless::HttpApi, found %d", len(apis))
	}
	var apiName string
	for n, a := range apis {
		apiName = n
		if s(a.StageName) != "$default" {
			errs = append(errs, find("routes", n, "StageName %q, want $default (the app's paths carry no stage)", s(a.StageName)))
		}
	}
	f, ok := t.Functions()[w.HTTPFunction]
	if !ok {
		return errors.Join(append(errs, find("routes", w.HTTPFunction, "no HTTP function"))...)
	}
	type key struct{ method, path string }
	events := map[key]*serverless.Function_HttpApiEvent{}
	for name, ev := range f.Props.Events {
		if ev.Type != "HttpApi" || ev.Properties == nil || ev.Properties.HttpApiEvent == nil {
			continue
		}
		h := ev.Properties.HttpApiEvent
		if s(h.ApiId) != "Ref("+apiName+")" {
			errs = append(errs, find("routes", w.HTTPFunction, "event %s is not on the HttpApi %s", name, apiName))
		}
		if s(h.PayloadFormatVersion) != "2.0" {
			errs = append(errs, find("routes", w.HTTPFunction, "event %s: PayloadFormatVersion %q, want 2.0", name, s(h.PayloadFormatVersion)))
		}
		events[key{strings.ToUpper(s(h.Method)), s(h.Path)}] = h
	}
	for _, r := range w.Routes {
		h, ok := events[key{r.Method, r.Path}]
		if !ok {
			errs = append(errs, find("routes", w.HTTPFunction, "no HttpApi event for route %s %s (%s)", r.Method, r.Path, r.Name))
			continue
		}
		delete(events, key{r.Method, r.Path})
		authorized := h.Auth != nil && s(h.Auth.Authorizer) != "" && s(h.Auth.Authorizer) != "NONE"
		if r.Protected && !authorized {
			errs = append(errs, find("routes", w.HTTPFunction, "route %s %s needs an authorizer (authLevel is not anonymous on Azure)", r.Method, r.Path))
		}
	}
	for k := range events {
		errs = append(errs, find("routes", w.HTTPFunction, "route %s %s is not served by the app", k.method, k.path))
	}
	return errors.Join(errs...)
}

// CheckQueues checks: one event source mapping per consumer on the RabbitMQ
// broker, for its queue, with batch size and window, the broker secret
// (BASIC_AUTH) and the virtual host; and a schedule on the relay.
func (t *Template) CheckQueues(w Want) error {
	var errs []error
	brokers := t.cf.GetAllAmazonMQBrokerResources()
	var brokerName string
	for n, b := range brokers {
		if b.EngineType == "RABBITMQ" {
			brokerName = n
		}
	}
	if brokerName == "" {
		errs = append(errs, find("queues", "", "no AWS::AmazonMQ::Broker with EngineType RABBITMQ"))
	}
	maps := t.cf.GetAllLambdaEventSourceMappingResources()
	for _, c := range w.Consumers {
		found := false
		for n, m := range maps {
			if m.FunctionName != "Ref("+c.Function+")" {
				continue
			}
			found = true
			if !slices.Equal(m.Queues, []string{c.Queue}) {
				errs = append(errs, find("queues", n, "Queues %v, want [%s]", m.Queues, c.Queue))
			}
			if s(m.EventSourceArn) != "GetAtt("+brokerName+".Arn)" {
				errs = append(errs, find("queues", n, "EventSourceArn %q, want the broker's Arn", s(m.EventSourceArn)))
			}
			if m.BatchSize == nil || *m.BatchSize < 1 || *m.BatchSize > 10000 {
				errs = append(errs, find("queues", n, "BatchSize must be set, 1 to 10000"))
			}
			if m.MaximumBatchingWindowInSeconds == nil || *m.MaximumBatchingWindowInSeconds < 0 || *m.MaximumBatchingWindowInSeconds > 300 {
				errs = append(errs, find("queues", n, "MaximumBatchingWindowInSeconds must be set, 0 to 300"))
			}
			auth := map[string]string{}
			for _, a := range m.SourceAccessConfigurations {
				auth[s(a.Type)] = s(a.URI)
			}
			if !strings.HasPrefix(auth["BASIC_AUTH"], "Ref(") || t.cf.Resources[strings.TrimSuffix(strings.TrimPrefix(auth["BASIC_AUTH"], "Ref("), ")")] == nil {
				errs = append(errs, find("queues", n, "SourceAccessConfigurations needs BASIC_AUTH with the broker secret (Ref)"))
			}
			if auth["VIRTUAL_HOST"] == "" {
				errs = append(errs, find("queues", n, "SourceAccessConfigurations needs VIRTUAL_HOST"))
			}
		}
		if !found {
			errs = append(errs, find("queues", c.Function, "no AWS::Lambda::EventSourceMapping feeds queue %s to %s", c.Queue, c.Function))
		}
	}
	if f, ok := t.Functions()[w.ScheduledFunction]; ok {
		scheduled := false
		for _, ev := range f.Props.Events {
			if (ev.Type == "Schedule" || ev.Type == "ScheduleV2") && ev.Properties != nil && ev.Properties.ScheduleEvent != nil && ev.Properties.ScheduleEvent.Schedule != "" {
				scheduled = true
			}
		}
		if !scheduled {
			errs = append(errs, find("queues", w.ScheduledFunction, "no Schedule event"))
		}
	} else {
		errs = append(errs, find("queues", w.ScheduledFunction, "no scheduled function"))
	}
	return errors.Join(errs...)
}

// CheckSettings checks: every function gets every required setting with the
// required value, and no forbidden one.
func (t *Template) CheckSettings(w Want) error {
	var errs []error
	fns := t.Functions()
	for _, name := range sorted(fns) {
		f := fns[name]
		for _, k := range sortedKeys(w.Settings) {
			v, ok := f.Env[k]
			switch {
			case !ok || v == "":
				errs = append(errs, find("settings", name, "setting %s is not set", k))
			case w.Settings[k] != "" && v != w.Settings[k]:
				errs = append(errs, find("settings", name, "setting %s is %q, want %q", k, v, w.Settings[k]))
			}
		}
		for _, k := range sortedKeys(w.Forbidden) {
			if _, ok := f.Env[k]; ok {
				errs = append(errs, find("settings", name, "setting %s must not be set: %s", k, w.Forbidden[k]))
			}
		}
	}
	return errors.Join(errs...)
}

// statement is one IAM policy statement.
type statement struct {
	Effect   string
	Actions  []string
	Resource []string
}

func statements(f Function) ([]statement, error) {
	var out []statement
	if f.Props.Policies == nil {
		return nil, nil
	}
	// goformation fills every member of the Policies union that decodes,
	// so each is judged by its content.
	p := f.Props.Policies
	managed := p.String != nil && *p.String != ""
	if p.StringArray != nil {
		managed = managed || slices.ContainsFunc(*p.StringArray, func(s string) bool { return s != "" })
	}
	if p.SAMPolicyTemplateArray != nil {
		managed = managed || slices.ContainsFunc(*p.SAMPolicyTemplateArray, func(tp serverless.Function_SAMPolicyTemplate) bool {
			v := reflect.ValueOf(tp)
			for i := range v.NumField() {
				if fv := v.Field(i); fv.Kind() == reflect.Pointer && !fv.IsNil() {
					return true
				}
			}
			return false
		})
	}
	if managed {
		return nil, errors.New("only inline policy documents are allowed (no managed policies or SAM policy templates)")
	}
	var docs []serverless.Function_IAMPolicyDocument
	if p.IAMPolicyDocument != nil {
		docs = append(docs, *p.IAMPolicyDocument)
	}
	if p.IAMPolicyDocumentArray != nil {
		docs = append(docs, *p.IAMPolicyDocumentArray...)
	}
	for _, d := range docs {
		for _, raw := range d.Statement {
			b, _ := json.Marshal(raw)
			var st struct {
				Effect   string
				Action   any
				Resource any
			}
			if err := json.Unmarshal(b, &st); err != nil {
				return nil, err
			}
			out = append(out, statement{Effect: st.Effect, Actions: list(st.Action), Resource: list(st.Resource)})
		}
	}
	return out, nil
}

// networkActions are what a function in a VPC and an MQ event source
// mapping need; EC2 grants them on "*" only.
var networkActions = []string{"ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:DescribeNetworkInterfaces",
	"ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"}

// CheckPermissions checks: least privilege. Every function may log in to the
// database as POSTGRES_USER (rds-db:connect) and read the broker secret
// named by SecretSetting; consumers may describe the broker and manage the
// mapping's network interfaces; no wildcard actions and no "*" resource
// except for the EC2 network actions.
func (t *Template) CheckPermissions(w Want) error {
	var errs []error
	fns := t.Functions()
	consumers := map[string]bool{}
	for _, c := range w.Consumers {
		consumers[c.Function] = true
	}
	var brokerArn string
	for n, b := range t.cf.GetAllAmazonMQBrokerResources() {
		if b.EngineType == "RABBITMQ" {
			brokerArn = "GetAtt(" + n + ".Arn)"
		}
	}
	for _, name := range sorted(fns) {
		f := fns[name]
		sts, err := statements(f)
		if err != nil {
			errs = append(errs, find("permissions", name, "%v", err))
			continue
		}
		allowed := func(action, resource string) bool {
			for _, st := range sts {
				if st.Effect == "Allow" && slices.Contains(st.Actions, action) && slices.Contains(st.Resource, resource) {
					return true
				}
			}
			return false
		}
		dbUser := false
		for _, st := range sts {
			for _, a := range st.Actions {
				if a == "*" || strings.HasSuffix(a, ":*") {
					errs = append(errs, find("permissions", name, "wildcard action %q", a))
				}
				if slices.Contains(st.Resource, "*") && !slices.Contains(networkActions, a) {
					errs = append(errs, find("permissions", name, "action %s on resource \"*\"", a))
				}
				if a == "rds-db:connect" && st.Effect == "Allow" {
					for _, r := range st.Resource {
						if strings.Contains(r, ":dbuser:") && strings.HasSuffix(strings.TrimSuffix(r, ")"), "/${DatabaseUser}") {
							dbUser = true
						}
					}
				}
			}
		}
		if !dbUser {
			errs = append(errs, find("permissions", name, "no rds-db:connect on the dbuser ARN of POSTGRES_USER (…:dbuser:<resource id>/${DatabaseUser})"))
		}
		if secret := f.Env[w.SecretSetting]; secret == "" || !allowed("secretsmanager:GetSecretValue", secret) {
			errs = append(errs, find("permissions", name, "no secretsmanager:GetSecretValue on %s (%q)", w.SecretSetting, secret))
		}
		if consumers[name] {
			if !allowed("mq:DescribeBroker", brokerArn) {
				errs = append(errs, find("permissions", name, "the event source mapping needs mq:DescribeBroker on %s", brokerArn))
			}
			for _, a := range networkActions {
				if !allowed(a, "*") {
					errs = append(errs, find("permissions", name, "the event source mapping needs %s", a))
				}
			}
		} else {
			for _, st := range sts {
				if slices.Contains(st.Actions, "mq:DescribeBroker") {
					errs = append(errs, find("permissions", name, "mq:DescribeBroker is only for consumers"))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// CheckSecrets checks: the broker password comes from Secrets Manager, the
// database admin password is managed by RDS, no parameter defaults a
// secret, and no setting carries credentials.
func (t *Template) CheckSecrets() error {
	var errs []error
	for n, b := range t.cf.GetAllAmazonMQBrokerResources() {
		for _, u := range b.Users {
			if !strings.Contains(u.Password, "{{resolve:secretsmanager:") {
				errs = append(errs, find("secrets", n, "broker user password must be a {{resolve:secretsmanager:…}} reference"))
			}
		}
	}
	for n, db := range t.cf.GetAllRDSDBInstanceResources() {
		if db.MasterUserPassword != nil {
			errs = append(errs, find("secrets", n, "MasterUserPassword is set; use ManageMasterUserPassword"))
		}
		if db.ManageMasterUserPassword == nil || !*db.ManageMasterUserPassword {
			errs = append(errs, find("secrets", n, "ManageMasterUserPassword must be true"))
		}
	}
	for n, p := range t.cf.Parameters {
		if looksSecret(n) && p.Default != nil {
			errs = append(errs, find("secrets", n, "parameter has a default value"))
		}
	}
	fns := t.Functions()
	for _, name := range sorted(fns) {
		for _, k := range sortedKeys(fns[name].Env) {
			v := fns[name].Env[k]
			if looksSecret(k) && !strings.HasPrefix(v, "Ref(") {
				errs = append(errs, find("secrets", name, "setting %s holds a literal secret", k))
			}
			if i := strings.Index(v, "://"); i >= 0 && strings.Contains(strings.SplitN(v[i+3:], "/", 2)[0], "@") {
				errs = append(errs, find("secrets", name, "setting %s carries credentials in a URI", k))
			}
		}
	}
	return errors.Join(errs...)
}

func looksSecret(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "password") || strings.Contains(n, "secret") && !strings.HasSuffix(n, "arn") || strings.Contains(n, "token")
}

// CheckPlatform checks: what the code relies on: PostgreSQL with IAM
// authentication, private database and broker, functions in the VPC.
func (t *Template) CheckPlatform() error {
	var errs []error
	dbs := t.cf.GetAllRDSDBInstanceResources()
	if len(dbs) == 0 {
		errs = append(errs, find("platform", "", "no AWS::RDS::DBInstance"))
	}
	for n, db := range dbs {
		if s(db.Engine) != "postgres" {
			errs = append(errs, find("platform", n, "Engine %q, want postgres", s(db.Engine)))
		}
		if db.EnableIAMDatabaseAuthentication == nil || !*db.EnableIAMDatabaseAuthentication {
			errs = append(errs, find("platform", n, "EnableIAMDatabaseAuthentication must be true (POSTGRES_AUTH=rds-iam)"))
		}
		if db.PubliclyAccessible == nil || *db.PubliclyAccessible {
			errs = append(errs, find("platform", n, "PubliclyAccessible must be false"))
		}
	}
	for n, b := range t.cf.GetAllAmazonMQBrokerResources() {
		if b.PubliclyAccessible {
			errs = append(errs, find("platform", n, "PubliclyAccessible must be false"))
		}
	}
	fns := t.Functions()
	for _, name := range sorted(fns) {
		v := fns[name].Props.VpcConfig
		if v == nil || len(v.SubnetIds) == 0 || len(v.SecurityGroupIds) == 0 {
			errs = append(errs, find("platform", name, "VpcConfig with subnets and security groups is required (database and broker are private)"))
		}
	}
	return errors.Join(errs...)
}

func s(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func list(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

func sorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedKeys(m map[string]string) []string { return sorted(m) }

package aws_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/functions/lambda"
	"github.com/orderflow/orderflow/infra/aws"
	"github.com/orderflow/orderflow/shared/setting"
	"github.com/orderflow/orderflow/shared/topology"
)

// required are the settings every function needs on AWS, with the value
// when one is required.
var required = map[string]string{
	setting.EnvBroker:             setting.BrokerRabbitMQ,
	setting.EnvRabbitMQQueueType:  setting.QueueQuorum,
	setting.EnvRabbitMQConnection: "",
	setting.EnvRabbitMQSecretARN:  "",
	setting.EnvPostgresAuth:       setting.PostgresAuthRDSIAM,
	setting.EnvPostgresHost:       "",
	setting.EnvPostgresDatabase:   "",
	setting.EnvPostgresUser:       "",
}

// forbidden are settings the template must not set, with the reason.
var forbidden = map[string]string{
	setting.EnvDatabaseURL:          "password login; AWS uses POSTGRES_AUTH=rds-iam",
	setting.EnvAWSRegion:            "reserved: Lambda sets it",
	setting.EnvServiceBusConnection: "Azure Service Bus; AWS uses RabbitMQ (Amazon MQ)",
	setting.EnvServiceBusNamespace:  "Azure Service Bus",
	setting.EnvServiceBusCredential: "Azure Service Bus",
	setting.EnvServiceBusClientID:   "Azure Service Bus",
	setting.EnvAzureClientID:        "Azure identity",
	setting.EnvSMTPPassword:         "a secret: would sit in the template; send through a relay without AUTH or add a secret reference first",
	setting.EnvPostgresSSLMode:      "local tests only; RDS uses the default require",
}

// optional are settings the template may leave at their defaults.
var optional = []string{setting.EnvPostgresPort, setting.EnvSMTPHost, setting.EnvSMTPPort, setting.EnvSMTPUsername, setting.EnvSMTPFrom}

// routes reads the HTTP routes from the Azure functions' function.json
// files: the same routes must exist on AWS.
func routes(t *testing.T) []aws.Route {
	t.Helper()
	files, err := filepath.Glob("../../functions/*/function.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no function.json files: %v", err)
	}
	var out []aws.Route
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var fj struct {
			Bindings []struct {
				Type, AuthLevel, Route string
				Methods                []string
			}
		}
		if err := json.Unmarshal(b, &fj); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, b := range fj.Bindings {
			if b.Type != "httpTrigger" {
				continue
			}
			for _, m := range b.Methods {
				out = append(out, aws.Route{Name: filepath.Base(filepath.Dir(f)), Method: strings.ToUpper(m), Path: "/api/" + b.Route,
					Protected: b.AuthLevel != "" && b.AuthLevel != "anonymous"})
			}
		}
	}
	return out
}

// want is what the code needs, derived from the code.
func want(t *testing.T) aws.Want {
	t.Helper()
	w := aws.Want{
		Functions: lambda.Functions, HTTPFunction: lambda.FunctionAPI, ScheduledFunction: lambda.FunctionOutboxRelay,
		FunctionSetting: lambda.EnvFunction, Settings: required, Forbidden: forbidden, SecretSetting: setting.EnvRabbitMQSecretARN,
		Routes: routes(t),
	}
	for _, s := range topology.Default().Subscriptions {
		if !slices.Contains(lambda.Functions, s.Function) {
			t.Fatalf("topology consumer %s is not a Lambda function", s.Function)
		}
		w.Consumers = append(w.Consumers, aws.Consumer{Function: s.Function, Queue: s.Name})
	}
	return w
}

func load(t *testing.T, path string) *aws.Template {
	t.Helper()
	tpl, err := aws.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func TestTemplateMeetsTheAppsNeeds(t *testing.T) {
	t.Parallel()
	w := want(t)
	if len(w.Routes) < 5 || len(w.Consumers) != 2 {
		t.Fatalf("derived %d routes and %d consumers from the code", len(w.Routes), len(w.Consumers))
	}
	if err := load(t, aws.TemplateFile).Check(w); err != nil {
		t.Fatal(err)
	}
}

// TestSettingsClassified makes every setting the app reads either
// required, forbidden or optional on AWS, so a new one cannot be forgotten.
func TestSettingsClassified(t *testing.T) {
	t.Parallel()
	for _, n := range setting.Names() {
		_, req := required[n]
		_, forb := forbidden[n]
		opt := slices.Contains(optional, n)
		if count := btoi(req) + btoi(forb) + btoi(opt); count != 1 {
			t.Errorf("setting %s: required=%v forbidden=%v optional=%v, want exactly one", n, req, forb, opt)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestLoadRejectsBrokenTemplates(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "t.yaml")
	if err := os.WriteFile(p, []byte("Resources:\n  X:\n    Type: AWS::Lambda::EventSourceMapping\n    Properties:\n      BatchSize: [1]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := aws.Load(p); err == nil {
		t.Fatal("a malformed template loaded")
	}
	if _, err := aws.Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("a missing template loaded")
	}
}

// Package aws checks the SAM template of the AWS deployment
// (infra/aws/template.yaml) offline against what the app needs: every
// Lambda function, HTTP route, queue mapping, setting and IAM permission,
// no secret in the template, and the platform choices the code relies on
// (RDS IAM authentication, private broker and database, provided.al2023).
// The template is parsed with goformation into typed CloudFormation and SAM
// resources; intrinsic functions are kept as readable text ("Ref(X)",
// "Fn::GetAtt(X.Y)") so that checks can tell which resource a value names.
package aws

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// TemplateFile is the SAM template, relative to this package.
const TemplateFile = "template.yaml"

// Template is a parsed SAM template.
type Template struct {
	cf *cloudformation.Template
	// global holds Globals.Function, which SAM merges into every function.
	global functionProps
}

// functionProps is AWS::Serverless::Function's properties without its
// resource envelope (Globals.Function has none).
type functionProps serverless.Function

// loadMu serialises parsing: goformation registers its YAML tag handlers
// in a package-level map on every parse, which races with itself.
var loadMu sync.Mutex

// Load parses path. Parameters resolve to their defaults; other
// references stay as text. It is safe for concurrent use.
func Load(path string) (*Template, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	verbatim := func(name string, input any, _ any) any {
		b, _ := json.Marshal(input)
		return name + "(" + string(b) + ")"
	}
	ref := func(name string, input any, template any) any {
		if s, ok := input.(string); ok {
			if tm, ok := template.(map[string]any); ok {
				if ps, ok := tm["Parameters"].(map[string]any); ok {
					if p, ok := ps[s].(map[string]any); ok && p["Default"] != nil {
						return p["Default"]
					}
				}
			}
			return "Ref(" + s + ")"
		}
		return verbatim(name, input, template)
	}
	getAtt := func(name string, input any, template any) any {
		if parts, ok := input.([]any); ok && len(parts) == 2 {
			return fmt.Sprintf("GetAtt(%v.%v)", parts[0], parts[1])
		}
		if s, ok := input.(string); ok {
			return "GetAtt(" + s + ")"
		}
		return verbatim(name, input, template)
	}
	sub := func(name string, input any, template any) any {
		if s, ok := input.(string); ok {
			return "Sub(" + s + ")"
		}
		return verbatim(name, input, template)
	}
	overrides := map[string]intrinsics.IntrinsicHandler{"Ref": ref, "Fn::GetAtt": getAtt, "Fn::Sub": sub}
	for _, n := range []string{"Fn::Select", "Fn::Cidr", "Fn::GetAZs", "Fn::Join", "Fn::If", "Fn::ImportValue", "Fn::Split", "Fn::FindInMap", "Fn::Base64"} {
		overrides[n] = verbatim
	}
	cf, err := goformation.OpenWithOptions(path, &intrinsics.ProcessorOptions{IntrinsicHandlerOverrides: overrides})
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrTemplate, path, err)
	}
	t := &Template{cf: cf}
	if g, ok := cf.Globals["Function"]; ok {
		b, err := json.Marshal(g)
		if err == nil {
			err = json.Unmarshal(b, &t.global)
		}
		if err != nil {
			return nil, fmt.Errorf("%w %s: Globals.Function: %w", ErrTemplate, path, err)
		}
	}
	return t, nil
}

// Function is one function with Globals.Function merged in, as SAM does.
type Function struct {
	// Name is the logical ID.
	Name string
	// Props are the merged properties.
	Props serverless.Function
	// Env is the merged environment.
	Env map[string]string
}

// Functions returns every AWS::Serverless::Function, merged with Globals.
func (t *Template) Functions() map[string]Function {
	out := map[string]Function{}
	for name, f := range t.cf.GetAllServerlessFunctionResources() {
		p := *f
		g := t.global
		if p.Runtime == nil {
			p.Runtime = g.Runtime
		}
		if p.Handler == nil {
			p.Handler = g.Handler
		}
		if p.CodeUri == nil {
			p.CodeUri = g.CodeUri
		}
		if len(p.Architectures) == 0 {
			p.Architectures = g.Architectures
		}
		if p.VpcConfig == nil {
			p.VpcConfig = g.VpcConfig
		}
		if p.Timeout == nil {
			p.Timeout = g.Timeout
		}
		env := map[string]string{}
		if g.Environment != nil {
			for k, v := range g.Environment.Variables {
				env[k] = v
			}
		}
		if p.Environment != nil {
			for k, v := range p.Environment.Variables {
				env[k] = v
			}
		}
		out[name] = Function{Name: name, Props: p, Env: env}
	}
	return out
}

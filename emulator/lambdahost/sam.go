package lambdahost

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// samMu serialises goformation parsing (not safe for concurrent use).
var samMu sync.Mutex

// FromSAM reads the functions, their HttpApi routes, Schedule events and
// AWS::Lambda::EventSourceMapping queue mappings (Amazon MQ: Queues,
// BatchSize, MaximumBatchingWindowInSeconds) of a SAM template. Parameters
// take their defaults; environment values that are references to other
// resources (a broker endpoint, a database host) are left empty, for the
// caller's Env to supply. Timeout and ReservedConcurrentExecutions become
// Timeout and Concurrency. Bootstrap, RabbitMQURL and Env are the caller's.
func FromSAM(path string) (Config, error) {
	ref := func(_ string, input any, template any) any {
		s, ok := input.(string)
		if !ok {
			return nil
		}
		if tm, ok := template.(map[string]any); ok {
			if ps, ok := tm["Parameters"].(map[string]any); ok {
				if p, ok := ps[s].(map[string]any); ok {
					return p["Default"]
				}
			}
		}
		return "ref:" + s
	}
	samMu.Lock()
	tpl, err := goformation.OpenWithOptions(path, &intrinsics.ProcessorOptions{IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{"Ref": ref}})
	samMu.Unlock()
	if err != nil {
		return Config{}, fmt.Errorf("%w: SAM template %s: %w", ErrConfig, path, err)
	}
	var global serverlessProps
	if g, ok := tpl.Globals["Function"]; ok {
		b, err := json.Marshal(g)
		if err == nil {
			err = json.Unmarshal(b, &global)
		}
		if err != nil {
			return Config{}, fmt.Errorf("%w: %s Globals.Function: %w", ErrConfig, path, err)
		}
	}
	var cfg Config
	fns := tpl.GetAllServerlessFunctionResources()
	for _, name := range slices.Sorted(maps.Keys(fns)) {
		f := fns[name]
		fn := Function{Name: name, Env: map[string]string{}}
		if global.Environment != nil {
			for k, v := range global.Environment.Variables {
				fn.Env[k] = plain(v)
			}
		}
		if f.Environment != nil {
			for k, v := range f.Environment.Variables {
				fn.Env[k] = plain(v)
			}
		}
		timeout := f.Timeout
		if timeout == nil {
			timeout = global.Timeout
		}
		if timeout != nil {
			fn.Timeout = time.Duration(*timeout) * time.Second
		}
		if f.ReservedConcurrentExecutions != nil {
			fn.Concurrency = *f.ReservedConcurrentExecutions
		}
		if f.MemorySize != nil {
			fn.MemoryMB = *f.MemorySize
		} else if global.MemorySize != nil {
			fn.MemoryMB = *global.MemorySize
		}
		cfg.Functions = append(cfg.Functions, fn)
		for _, en := range slices.Sorted(maps.Keys(f.Events)) {
			ev := f.Events[en]
			switch {
			case ev.Type == "HttpApi" && ev.Properties != nil && ev.Properties.HttpApiEvent != nil:
				h := ev.Properties.HttpApiEvent
				method, path := strings.ToUpper(str(h.Method)), str(h.Path)
				if method == "" || method == "ANY" || method == "X-AMAZON-APIGATEWAY-ANY-METHOD" {
					method = "ANY"
				}
				if path == "" {
					path = "/{proxy...}"
				}
				cfg.Routes = append(cfg.Routes, Route{Method: method, Path: greedy(path), Function: name})
			case (ev.Type == "Schedule" || ev.Type == "ScheduleV2") && ev.Properties != nil && ev.Properties.ScheduleEvent != nil:
				every, err := rate(ev.Properties.ScheduleEvent.Schedule)
				if err != nil {
					return Config{}, fmt.Errorf("%w: %s event %s: %w", ErrConfig, name, en, err)
				}
				cfg.Schedules = append(cfg.Schedules, Schedule{Function: name, Every: every})
			}
		}
	}
	esms := tpl.GetAllLambdaEventSourceMappingResources()
	for _, n := range slices.Sorted(maps.Keys(esms)) {
		m := esms[n]
		if len(m.Queues) != 1 {
			continue // not an Amazon MQ mapping
		}
		q := Queue{Function: strings.TrimPrefix(m.FunctionName, "ref:"), Queue: m.Queues[0]}
		if m.BatchSize != nil {
			q.BatchSize = *m.BatchSize
		}
		if m.MaximumBatchingWindowInSeconds != nil {
			q.Window = time.Duration(*m.MaximumBatchingWindowInSeconds) * time.Second
		}
		cfg.Queues = append(cfg.Queues, q)
	}
	return cfg, nil
}

// serverlessProps is Globals.Function (properties without the envelope).
type serverlessProps serverless.Function

// plain drops what a reference resolved to: locally it has no value.
func plain(v string) string {
	if strings.HasPrefix(v, "ref:") {
		return ""
	}
	return v
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// greedy turns API Gateway's greedy {name+} into a ServeMux wildcard.
func greedy(path string) string {
	return regexp.MustCompile(`\{([A-Za-z0-9_]+)\+\}`).ReplaceAllString(path, "{$1...}")
}

var rateRE = regexp.MustCompile(`^rate\((\d+) (second|seconds|minute|minutes|hour|hours|day|days)\)$`)

// rate reads an EventBridge rate expression; cron expressions are not
// supported locally.
func rate(expr string) (time.Duration, error) {
	m := rateRE.FindStringSubmatch(strings.TrimSpace(expr))
	if m == nil {
		return 0, fmt.Errorf("schedule %q: only rate(N unit) is supported locally", expr)
	}
	n, err := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}[strings.TrimSuffix(m[2], "s")]
	if err != nil || n < 1 || time.Duration(n) > 3650*24*time.Hour/unit {
		return 0, fmt.Errorf("schedule %q: the rate must be 1 to 10 years", expr)
	}
	return time.Duration(n) * unit, nil
}

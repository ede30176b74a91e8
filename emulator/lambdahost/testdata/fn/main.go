// Command fn is a test runtime for lambdahost: one aws-lambda-go bootstrap
// whose behaviour depends on AWS_LAMBDA_FUNCTION_NAME.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type echo struct {
	Event      json.RawMessage   `json:"event"`
	RequestID  string            `json:"requestId"`
	ARN        string            `json:"arn"`
	DeadlineMs int64             `json:"deadlineMs"`
	Trace      string            `json:"trace"`
	PID        int               `json:"pid"`
	Env        map[string]string `json:"env"`
}

func main() {
	switch os.Getenv("AWS_LAMBDA_FUNCTION_NAME") {
	case "echo", "slow":
		slow := os.Getenv("AWS_LAMBDA_FUNCTION_NAME") == "slow"
		lambda.Start(func(ctx context.Context, ev json.RawMessage) (echo, error) {
			if slow {
				time.Sleep(300 * time.Millisecond)
			}
			lc, _ := lambdacontext.FromContext(ctx)
			dl, _ := ctx.Deadline()
			trace, _ := ctx.Value("x-amzn-trace-id").(string)
			env := map[string]string{}
			for _, k := range []string{"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION", "APP_SETTING", "UNSET_ME", "_HANDLER", "OTEL_LAMBDAHOST_TEST", "OTEL_SERVICE_NAME"} {
				env[k] = os.Getenv(k)
			}
			return echo{Event: ev, RequestID: lc.AwsRequestID, ARN: lc.InvokedFunctionArn, DeadlineMs: dl.UnixMilli(), Trace: trace, PID: os.Getpid(), Env: env}, nil
		})
	case "sleep":
		lambda.Start(func(ctx context.Context, ev json.RawMessage) (int, error) {
			if string(ev) != `"fast"` {
				time.Sleep(10 * time.Second)
			}
			return os.Getpid(), nil
		})
	case "fail":
		lambda.Start(func(context.Context, json.RawMessage) error { return errors.New("boom") })
	case "crash":
		lambda.Start(func(_ context.Context, ev json.RawMessage) (int, error) {
			if string(ev) == `"crash"` {
				os.Exit(3)
			}
			return os.Getpid(), nil
		})
	case "http":
		lambda.Start(func(ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			body := ev.Body
			if ev.IsBase64Encoded {
				b, _ := base64.StdEncoding.DecodeString(ev.Body)
				body = fmt.Sprintf("binary:%x", b)
			}
			out, _ := json.Marshal(map[string]any{"routeKey": ev.RouteKey, "rawPath": ev.RawPath, "query": ev.RawQueryString,
				"cookies": ev.Cookies, "pathParameters": ev.PathParameters, "accept": ev.Headers["accept"], "body": body,
				"method": ev.RequestContext.HTTP.Method})
			return events.APIGatewayV2HTTPResponse{StatusCode: 201, Headers: map[string]string{"Content-Type": "application/json", "X-Test": "yes"},
				Cookies: []string{"a=1; HttpOnly", "b=2"}, Body: string(out)}, nil
		})
	case "batch":
		lambda.Start(func(ev events.RabbitMQEvent) error {
			f, err := os.OpenFile(os.Getenv("BATCH_LOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			poison := false
			for key, ms := range ev.MessagesByQueue {
				var ids []string
				for _, m := range ms {
					b, _ := base64.StdEncoding.DecodeString(m.Data)
					poison = poison || string(b) == "poison"
					id := ""
					if m.BasicProperties.MessageID != nil {
						id = *m.BasicProperties.MessageID
					}
					ids = append(ids, fmt.Sprintf("%s:%v", id, m.Redelivered))
				}
				fmt.Fprintf(f, "%s %s %s\n", ev.EventSource, key, strings.Join(ids, ","))
			}
			if poison {
				return errors.New("poison message in batch")
			}
			return nil
		})
	default:
		fmt.Fprintln(os.Stderr, "unknown function", os.Getenv("AWS_LAMBDA_FUNCTION_NAME"))
		os.Exit(2)
	}
}

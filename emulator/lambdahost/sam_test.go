package lambdahost_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/lambdahost"
)

const samTemplate = `AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Batch:
    Type: Number
    Default: 5
Globals:
  Function:
    Runtime: provided.al2023
    Handler: bootstrap
    Timeout: 20
    Environment:
      Variables:
        SHARED: one
        BROKER_HOST: !GetAtt Broker.Endpoint
Resources:
  Broker:
    Type: AWS::AmazonMQ::Broker
    Properties:
      EngineType: RABBITMQ
  Web:
    Type: AWS::Serverless::Function
    Properties:
      ReservedConcurrentExecutions: 3
      Environment:
        Variables:
          OWN: web
      Events:
        Get:
          Type: HttpApi
          Properties:
            Method: get
            Path: /items/{id}
        All:
          Type: HttpApi
          Properties:
            Path: /files/{path+}
            Method: ANY
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 5
      Events:
        Tick:
          Type: Schedule
          Properties:
            Schedule: rate(2 minutes)
  WorkerQueue:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !Ref Worker
      EventSourceArn: !GetAtt Broker.Arn
      Queues: [jobs]
      BatchSize: !Ref Batch
      MaximumBatchingWindowInSeconds: 2
`

func TestFromSAM(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(p, []byte(samTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := lambdahost.FromSAM(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Functions) != 2 {
		t.Fatalf("functions %+v", cfg.Functions)
	}
	web, worker := cfg.Functions[0], cfg.Functions[1]
	if web.Name != "Web" || web.Concurrency != 3 || web.Timeout != 20*time.Second || web.Env["SHARED"] != "one" || web.Env["OWN"] != "web" || web.Env["BROKER_HOST"] != "" {
		t.Fatalf("Web %+v", web)
	}
	if worker.Name != "Worker" || worker.Timeout != 5*time.Second {
		t.Fatalf("Worker %+v", worker)
	}
	if len(cfg.Routes) != 2 || cfg.Routes[0] != (lambdahost.Route{Method: "ANY", Path: "/files/{path...}", Function: "Web"}) ||
		cfg.Routes[1] != (lambdahost.Route{Method: "GET", Path: "/items/{id}", Function: "Web"}) {
		t.Fatalf("routes %+v", cfg.Routes)
	}
	if len(cfg.Queues) != 1 || cfg.Queues[0] != (lambdahost.Queue{Function: "Worker", Queue: "jobs", BatchSize: 5, Window: 2 * time.Second}) {
		t.Fatalf("queues %+v", cfg.Queues)
	}
	if len(cfg.Schedules) != 1 || cfg.Schedules[0] != (lambdahost.Schedule{Function: "Worker", Every: 2 * time.Minute}) {
		t.Fatalf("schedules %+v", cfg.Schedules)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(samTemplate[:len(samTemplate)-40]+"\n      BatchSize: [x]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := lambdahost.FromSAM(bad); !errors.Is(err, lambdahost.ErrConfig) {
		t.Fatalf("broken template: %v", err)
	}
}

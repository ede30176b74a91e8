# Order system: Azure Functions custom handler + local Functions host + Service Bus emulator.
# `make` (or `make help`) lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
GOARCH    ?= amd64
APP_DIR   ?= dist/app
BIN_DIR   ?= dist/bin
PORT      ?= 7071
INSTANCES ?= 1
# Broker for make run: servicebus (the embedded emulator) or rabbitmq (127.0.0.1:5672). It also switches the
# inactive broker's trigger variants off with AzureWebJobs.<Function>.Disabled, as a deployment does.
BROKER    ?= servicebus
# The local dashboard (make run): its port, also its OTLP/HTTP endpoint, which the host, the emulator and the
# handler export to with short intervals so the pages follow live.
DASHBOARD_PORT ?= 18888
# Its OTLP/gRPC receiver, for apps that export with OTEL_EXPORTER_OTLP_PROTOCOL=grpc.
DASHBOARD_GRPC_PORT ?= 18889
RUN_OTEL = OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$(DASHBOARD_PORT) OTEL_METRIC_EXPORT_INTERVAL=2000 \
	OTEL_BSP_SCHEDULE_DELAY=500 OTEL_BLRP_SCHEDULE_DELAY=500
CONSUMERS := ProcessOrder SendEmail
# Standalone emulator (make emulator): Config.json path and ports.
EMULATOR_CONFIG    ?= shared/topology/emulator-config.json
EMULATOR_AMQP_PORT ?= 5673
EMULATOR_HTTP_PORT ?= 5300
# Linters, pinned and run with go run (no binaries to install): staticcheck 2026.2.2 with every check
# (staticcheck.conf says why one file opts out of one), errcheck with the teardown calls
# .errcheck-excludes lists and justifies.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
ERRCHECK    ?= github.com/kisielk/errcheck@v1.9.0
# Test flags: the whole suite runs with the race detector.
TEST_FLAGS ?= -race -count=1 -timeout 8m

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Target of make run: azure (the Functions custom handler under our local Functions host) or lambda (the Lambda
# bootstrap under our local Lambda host, from infra/aws/template.yaml; RabbitMQ only).
TARGET ?= azure

.PHONY: run
run: ## Run the app locally (TARGET=azure|lambda; BROKER=servicebus: embedded emulator | rabbitmq) with the dashboard; creates and migrates the database
	@$(MAKE) --no-print-directory run-$(TARGET)

.PHONY: run-azure
run-azure: package tools
	@test -f local.settings.json || { cp local.settings.example.json local.settings.json; echo "created local.settings.json from local.settings.example.json"; }
	cp local.settings.json $(APP_DIR)/local.settings.json
	@$(BIN_DIR)/dashboard -addr 127.0.0.1:$(DASHBOARD_PORT) -otlp-grpc 127.0.0.1:$(DASHBOARD_GRPC_PORT) -host-url http://127.0.0.1:$(PORT) -broker $(BROKER) & dash=$$!; \
	trap 'kill $$dash 2>/dev/null' EXIT; \
	$(RUN_OTEL) $(BIN_DIR)/funchost -app-dir $(APP_DIR) -port $(PORT) -instances $(INSTANCES) $(RUN_FLAGS)

# The template's settings are AWS's (RDS IAM, the broker secret); locally the functions use local.settings.json's
# DATABASE_URL and RabbitMQConnection instead. The queues are quorum queues, as on AWS: a vhost whose queues were
# declared classic by TARGET=azure BROKER=rabbitmq must have them deleted first (see README).
LAMBDA_RUN_FLAGS = -set BROKER=rabbitmq -set RABBITMQ_QUEUE_TYPE=quorum -set POSTGRES_AUTH=password -set POSTGRES_HOST= \
  -set POSTGRES_DATABASE= -set POSTGRES_USER= -set RABBITMQ_SECRET_ARN=

.PHONY: run-lambda
# The runtimes export to the dashboard (the host passes OTEL_* on to them); the dashboard drives the Lambda host's
# control API (stop/start a function, restart an environment) on the same port as the Functions host's.
run-lambda:
	@test -f local.settings.json || { cp local.settings.example.json local.settings.json; echo "created local.settings.json from local.settings.example.json"; }
	$(GO) build -o $(BIN_DIR)/lambdahost ./emulator/cmd/lambdahost
	$(GO) build -o $(BIN_DIR)/dashboard ./functions/cmd/dashboard
	CGO_ENABLED=0 $(GO) build -tags lambda.norpc -o $(BIN_DIR)/lambda/bootstrap ./functions/cmd/lambda
	@$(BIN_DIR)/dashboard -addr 127.0.0.1:$(DASHBOARD_PORT) -otlp-grpc 127.0.0.1:$(DASHBOARD_GRPC_PORT) -host-url http://127.0.0.1:$(PORT) -broker rabbitmq & dash=$$!; \
	trap 'kill $$dash 2>/dev/null' EXIT; \
	$(RUN_OTEL) $(BIN_DIR)/lambdahost -template infra/aws/template.yaml -bootstrap $(BIN_DIR)/lambda/bootstrap -settings local.settings.json \
	  -port $(PORT) -schedule-every 10s -concurrency $(INSTANCES) $(LAMBDA_RUN_FLAGS)

ifeq ($(BROKER),rabbitmq)
RUN_FLAGS = -set BROKER=rabbitmq $(foreach f,$(CONSUMERS),-set AzureWebJobs.$(f).Disabled=true -set AzureWebJobs.$(f)RabbitMQ.Disabled=false)
else ifeq ($(BROKER),servicebus)
RUN_FLAGS = -servicebus-emulator $(EMULATOR_CONFIG) -set BROKER=servicebus $(foreach f,$(CONSUMERS),-set AzureWebJobs.$(f).Disabled=false -set AzureWebJobs.$(f)RabbitMQ.Disabled=true)
else
$(error BROKER must be servicebus or rabbitmq, not $(BROKER))
endif

.PHONY: test
test: lint-deps ## Run every test (needs PostgreSQL and RabbitMQ on 127.0.0.1; .ci/run starts them)
	$(GO) test $(TEST_FLAGS) ./...

.PHONY: lint
lint: lint-deps ## gofmt, go vet, staticcheck, errcheck and the Bicep syntax check
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags chaos ./functions/chaos/ ./emulator/cmd/sbemulator/
	$(GO) run $(STATICCHECK) -tags chaos ./...
	$(GO) run $(ERRCHECK) -tags chaos -exclude .errcheck-excludes ./...
	@# Programs must not link the testing package (bench stages the app with functions/apptest/stage).
	@for p in ./bench ./functions/cmd/... ./emulator/cmd/...; do if $(GO) list -deps $$p | grep -qx testing; then echo "$$p links the testing package"; exit 1; fi; done
	node infra/lint/parse.js $$(git ls-files 'infra/*.bicep' 'infra/**/*.bicep' 'infra/*.bicepparam')

# Node tooling used by the tests: the Bicep grammar (infra/lint) and the JavaScript Service Bus SDK
# (emulator/servicebus/jstest), installed from their lock files when missing or older than the lock.
NODE_DIRS := infra/lint emulator/servicebus/jstest

.PHONY: lint-deps
lint-deps:
	@for d in $(NODE_DIRS); do \
	  if [ -f $$d/package-lock.json ] && { [ ! -d $$d/node_modules ] || [ $$d/package-lock.json -nt $$d/node_modules/.package-lock.json ]; }; then \
	    echo "npm ci --prefix $$d"; npm ci --prefix $$d --no-audit --no-fund >/dev/null || exit 1; fi; done

.PHONY: package
package: ## Stage a deployable app folder in dist/app (host.json, function folders, linux handler; GOARCH=arm64 selectable) and dist/app.zip
	rm -rf $(APP_DIR) && mkdir -p $(APP_DIR)
	cp host.json $(APP_DIR)/
	for f in functions/*/function.json; do d=$$(dirname $$f); mkdir -p $(APP_DIR)/$$(basename $$d); cp $$f $(APP_DIR)/$$(basename $$d)/; done
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build -trimpath -o $(APP_DIR)/handler ./functions/cmd/handler
	cd $(APP_DIR) && rm -f ../app.zip && zip -qr -X ../app.zip . -x local.settings.json
	@echo "app folder: $(APP_DIR)  zip: dist/app.zip"

# AWS Lambda (provided.al2023): one bootstrap serves every function (ORDERFLOW_FUNCTION picks one). arm64 unless
# GOARCH is given on the command line or in the environment.
LAMBDA_DIR    ?= dist/lambda
LAMBDA_GOARCH := $(if $(filter command line environment,$(origin GOARCH)),$(GOARCH),arm64)

.PHONY: package-lambda
package-lambda: ## Build the AWS Lambda bootstrap (provided.al2023, arm64; GOARCH=amd64 selectable) and dist/lambda.zip
	rm -rf $(LAMBDA_DIR) && mkdir -p $(LAMBDA_DIR)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_GOARCH) $(GO) build -trimpath -tags lambda.norpc -ldflags='-s -w' -o $(LAMBDA_DIR)/bootstrap ./functions/cmd/lambda
	chmod 0755 $(LAMBDA_DIR)/bootstrap
	cd $(LAMBDA_DIR) && rm -f ../lambda.zip && zip -q -X ../lambda.zip bootstrap
	@echo "bootstrap: $(LAMBDA_DIR)/bootstrap (linux/$(LAMBDA_GOARCH))  zip: dist/lambda.zip"

.PHONY: tools
tools: ## Build the local Functions host, the Service Bus emulator and the dashboard into dist/bin
	$(GO) build -o $(BIN_DIR)/funchost ./emulator/cmd/funchost
	$(GO) build -o $(BIN_DIR)/sbemulator ./emulator/cmd/sbemulator
	$(GO) build -o $(BIN_DIR)/dashboard ./functions/cmd/dashboard

.PHONY: emulator
emulator: ## Run the Service Bus emulator alone in the foreground (EMULATOR_CONFIG, EMULATOR_AMQP_PORT, EMULATOR_HTTP_PORT)
	$(GO) run ./emulator/cmd/sbemulator -config $(EMULATOR_CONFIG) -amqp-port $(EMULATOR_AMQP_PORT) -http-port $(EMULATOR_HTTP_PORT)

.PHONY: deadletter
deadletter: ## Inspect, replay or purge dead letters: make deadletter ARGS="list process-order" (list|replay|purge)
	$(GO) run ./functions/cmd/deadletter $(ARGS)

.PHONY: bench
bench: ## Run the benchmarks against same-run baselines; writes bench/results.json and BENCHMARKS.md
	$(GO) run ./bench

.PHONY: chaos
chaos: ## Fault injection (needs root, PostgreSQL and RabbitMQ; restarts both): 2,000 orders per broker through handler/host kills and service restarts; the emulator through 6 kill -9 with -data-dir
	$(GO) test -tags chaos -count=1 -timeout 15m -v ./functions/chaos/
	$(GO) test -tags chaos -count=1 -timeout 5m -v -run TestChaosEmulatorKill9 ./emulator/cmd/sbemulator/

.PHONY: fuzz
fuzz: ## Fuzz every parser for FUZZTIME each (default 30s)
	@for p in $$($(GO) list ./...); do for f in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do echo "== $$p $$f"; $(GO) test $$p -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-30s} || exit 1; done; done

AWS_STACK ?= orderflow
LAMBDA_SAM_ARCH := $(if $(filter amd64,$(LAMBDA_GOARCH)),x86_64,arm64)

.PHONY: deploy-aws
deploy-aws: package-lambda ## Deploy to AWS with infra/aws/template.yaml (needs the AWS SAM CLI and credentials; see infra/aws/DEPLOY.md)
	@command -v sam >/dev/null || { echo "deploy-aws needs the AWS SAM CLI (sam); see infra/aws/DEPLOY.md"; exit 1; }
	sam deploy --template-file infra/aws/template.yaml --stack-name $(AWS_STACK) --resolve-s3 \
	  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --parameter-overrides Architecture=$(LAMBDA_SAM_ARCH)

.PHONY: deploy
deploy: package ## Deploy to Azure with infra/ (needs az and a subscription; see infra/DEPLOY.md)
	bash infra/deploy.sh

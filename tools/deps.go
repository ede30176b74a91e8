//go:build tools

// Package tools pins dependencies before their first use in code.
package tools

import (
	_ "github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	_ "github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	_ "github.com/aws/aws-lambda-go/lambda"
	_ "github.com/emersion/go-smtp"
	_ "github.com/google/uuid"
	_ "github.com/jackc/pgx-shopspring-decimal"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/rabbitmq/amqp091-go"
	_ "github.com/robfig/cron/v3"
	_ "github.com/shopspring/decimal"
	_ "go.uber.org/goleak"
)

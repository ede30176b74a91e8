package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/orderflow/orderflow/shared/setting"
)

// SecretGetter reads a Secrets Manager secret (*secretsmanager.Client).
type SecretGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// brokerSecret is the secret format the Amazon MQ event source mapping's
// BASIC_AUTH access configuration requires.
type brokerSecret struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// WithBrokerSecret returns cfg with the credentials of the
// RABBITMQ_SECRET_ARN secret in RabbitMQConnection; cfg is unchanged when
// the setting is empty. sm nil uses the AWS default configuration (on
// Lambda, the execution role).
func WithBrokerSecret(ctx context.Context, cfg setting.Settings, sm SecretGetter) (setting.Settings, error) {
	if cfg.RabbitMQSecretARN == "" {
		return cfg, nil
	}
	if sm == nil {
		ac, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.AWSRegion))
		if err != nil {
			return cfg, fmt.Errorf("%s: loading AWS config: %w", setting.EnvRabbitMQSecretARN, err)
		}
		sm = secretsmanager.NewFromConfig(ac)
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(cfg.RabbitMQSecretARN)})
	if err != nil {
		return cfg, fmt.Errorf("%s: reading the broker secret: %w", setting.EnvRabbitMQSecretARN, err)
	}
	var s brokerSecret
	if out.SecretString == nil || json.Unmarshal([]byte(*out.SecretString), &s) != nil || s.Username == "" || s.Password == "" {
		return cfg, fmt.Errorf("%s: the secret is not {\"username\":..., \"password\":...}", setting.EnvRabbitMQSecretARN)
	}
	u, err := url.Parse(cfg.RabbitMQConnection)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") {
		return cfg, errors.Join(fmt.Errorf("setting %s is not an amqp(s) URI", setting.EnvRabbitMQConnection), err)
	}
	u.User = url.UserPassword(s.Username, s.Password)
	cfg.RabbitMQConnection = u.String()
	return cfg, nil
}

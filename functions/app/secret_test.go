package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/orderflow/orderflow/functions/app"
	"github.com/orderflow/orderflow/shared/setting"
)

const secretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orderflow-broker-AbCdEf"

// secretsEndpoint answers GetSecretValue (AWS JSON 1.1) for secretARN
// with body, as Secrets Manager does; the real SDK client talks to it.
func secretsEndpoint(t *testing.T, body string) *secretsmanager.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var in struct {
			SecretID string `json:"SecretId"`
		}
		_ = json.Unmarshal(b, &in)
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || in.SecretID != secretARN ||
			!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"ResourceNotFoundException","message":"no such secret"}`)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": secretARN, "Name": "orderflow-broker", "SecretString": body})
	}))
	t.Cleanup(srv.Close)
	return secretsmanager.New(secretsmanager.Options{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, nil
		})})
}

func load(t *testing.T, env map[string]string) setting.Settings {
	t.Helper()
	s, err := setting.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWithBrokerSecretPutsTheCredentialsIntoTheURI(t *testing.T) {
	t.Parallel()
	cfg := load(t, map[string]string{"BROKER": "rabbitmq", "RabbitMQConnection": "amqps://b-1234.mq.eu-west-1.amazonaws.com:5671/",
		"RABBITMQ_SECRET_ARN": secretARN})
	got, err := app.WithBrokerSecret(context.Background(), cfg, secretsEndpoint(t, `{"username":"orderflow","password":"p@ss:/word"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.RabbitMQConnection != "amqps://orderflow:p%40ss%3A%2Fword@b-1234.mq.eu-west-1.amazonaws.com:5671/" {
		t.Fatalf("URI %s", got.RabbitMQConnection)
	}
	for name, body := range map[string]string{"not json": "hunter2", "no password": `{"username":"u"}`} {
		if _, err := app.WithBrokerSecret(context.Background(), cfg, secretsEndpoint(t, body)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the secret: %v", name, err)
		}
	}
	cfg.RabbitMQSecretARN = secretARN + "-other"
	if _, err := app.WithBrokerSecret(context.Background(), cfg, secretsEndpoint(t, `{}`)); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("unknown secret: %v", err)
	}
	plain := load(t, map[string]string{"BROKER": "rabbitmq"})
	if got, err := app.WithBrokerSecret(context.Background(), plain, nil); err != nil || got != plain {
		t.Errorf("without the setting: %+v %v", got, err)
	}
}

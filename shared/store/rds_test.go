package store_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/orderflow/orderflow/shared/setting"
	"github.com/orderflow/orderflow/shared/store"
	"github.com/orderflow/orderflow/shared/store/storetest"
)

func staticCreds(expires time.Time) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
			SessionToken: "session-token", CanExpire: !expires.IsZero(), Expires: expires}, nil
	})
}

// TestRDSTokenIsAPresignedConnectRequest checks the token's shape (what
// RDS verifies: a SigV4-presigned "connect" for the endpoint, user and
// region, valid 15 minutes) and its expiry bookkeeping.
func TestRDSTokenIsAPresignedConnectRequest(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	src := store.RDSToken{Endpoint: "orders.abc.eu-west-1.rds.amazonaws.com:5432", Region: "eu-west-1", User: "orderflow_app",
		Credentials: staticCreds(time.Time{}), Now: func() time.Time { return now }}
	tok, err := src.GetToken(context.Background(), policy.TokenRequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse("https://" + tok.Token)
	if err != nil || u.Host != src.Endpoint || (u.Path != "" && u.Path != "/") {
		t.Fatalf("token %q: %v", tok.Token, err)
	}
	q := u.Query()
	switch {
	case q.Get("Action") != "connect" || q.Get("DBUser") != "orderflow_app":
		t.Fatalf("token action/user: %v", q)
	case !strings.HasPrefix(q.Get("X-Amz-Credential"), "AKIDEXAMPLE/") || !strings.HasSuffix(q.Get("X-Amz-Credential"), "/eu-west-1/rds-db/aws4_request"):
		t.Fatalf("credential scope %q", q.Get("X-Amz-Credential"))
	case q.Get("X-Amz-Expires") != "900" || q.Get("X-Amz-Security-Token") != "session-token" || q.Get("X-Amz-Signature") == "":
		t.Fatalf("token query %v", q)
	}
	if !tok.ExpiresOn.Equal(now.Add(store.RDSTokenLifetime)) {
		t.Fatalf("expires %s, want 15 minutes after signing", tok.ExpiresOn)
	}
	src.Credentials = staticCreds(now.Add(time.Minute))
	if tok, err := src.GetToken(context.Background(), policy.TokenRequestOptions{}); err != nil || !tok.ExpiresOn.Equal(now.Add(time.Minute)) {
		t.Fatalf("with credentials expiring first: %s %v", tok.ExpiresOn, err)
	}
	src.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, errors.New("no role")
	})
	if _, err := src.GetToken(context.Background(), policy.TokenRequestOptions{}); err == nil || !strings.Contains(err.Error(), "no role") {
		t.Fatalf("credential failure: %v", err)
	}
	if _, err := (store.RDSToken{Region: "eu-west-1"}).GetToken(context.Background(), policy.TokenRequestOptions{}); err == nil {
		t.Fatal("incomplete RDSToken signed a token")
	}
}

// TestRDSTokenLogsInThroughBeforeConnect wires RDSToken into the same
// TokenPassword hook as Entra: the store logs in to a token-checking
// server with the signed token as the password of the POSTGRES_USER role.
func TestRDSTokenLogsInThroughBeforeConnect(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	database, role := storetest.EntraDatabase(t)
	proxy := storetest.StartAuthProxy(t)
	env := map[string]string{
		"POSTGRES_AUTH": "rds-iam", "POSTGRES_HOST": proxy.Host(), "POSTGRES_PORT": strconv.Itoa(proxy.Port()),
		"POSTGRES_DATABASE": database, "POSTGRES_USER": role, "POSTGRES_SSLMODE": "disable", "AWS_REGION": "eu-west-1",
		"BROKER": "rabbitmq",
	}
	s, err := setting.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	tp, err := store.NewTokenPassword(store.TokenConfig{Credential: store.RDSToken{
		Endpoint: net.JoinHostPort(s.PostgresHost, strconv.Itoa(s.PostgresPort)), Region: s.AWSRegion, User: s.PostgresUser,
		Credentials: staticCreds(time.Time{})}})
	if err != nil {
		t.Fatal(err)
	}
	// The token is cached: the one the hook will send is the one the
	// server is told to accept.
	tok, err := tp.Password(ctx)
	if err != nil {
		t.Fatal(err)
	}
	proxy.Accept(tok)
	st, err := store.Open(ctx, store.Config{URL: s.PostgresURL(), BeforeConnect: tp.BeforeConnect, SkipCreateDatabase: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("opening with an RDS IAM token: %v", err)
	}
	defer st.Close()
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	logins := proxy.Logins()
	if len(logins) == 0 {
		t.Fatal("no login reached the server")
	}
	for _, l := range logins {
		if !l.Accepted || l.Password != tok || l.User != role || l.Database != database {
			t.Fatalf("login %+v, want %s on %s with the RDS token", l, role, database)
		}
	}
}

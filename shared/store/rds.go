package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
)

// RDSTokenLifetime is how long an Amazon RDS IAM authentication token is
// accepted for a login after it is signed.
const RDSTokenLifetime = 15 * time.Minute

// RDSToken issues Amazon RDS IAM authentication tokens (SigV4-presigned
// "connect" requests) in the shape TokenPassword consumes, so password-less
// PostgreSQL on AWS uses the same caching and refresh as on Azure:
//
//	tp, _ := NewTokenPassword(TokenConfig{Credential: RDSToken{...}})
//	cfg.BeforeConnect = tp.BeforeConnect
//
// Signing is local (no network call) once the AWS credentials are known.
type RDSToken struct {
	// Endpoint is the database "host:port" (required).
	Endpoint string
	// Region is the AWS region of the database (required).
	Region string
	// User is the PostgreSQL role, granted rds_iam (required).
	User string
	// Credentials sign the token (required): the Lambda execution role's
	// credentials in production (aws config.LoadDefaultConfig).
	Credentials aws.CredentialsProvider
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

var _ azcore.TokenCredential = RDSToken{}

// GetToken signs a token; the scopes are ignored (the token is bound to
// Endpoint, Region and User). Its expiry is the token's lifetime or the
// signing credentials' expiry, whichever comes first.
func (t RDSToken) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if t.Endpoint == "" || t.Region == "" || t.User == "" || t.Credentials == nil {
		return azcore.AccessToken{}, errors.New("store: RDSToken needs Endpoint, Region, User and Credentials")
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	creds, err := t.Credentials.Retrieve(ctx)
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("retrieving AWS credentials: %w", err)
	}
	signedAt := now()
	tok, err := auth.BuildAuthToken(ctx, t.Endpoint, t.Region, t.User,
		aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }))
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("signing RDS IAM token for %s@%s: %w", t.User, t.Endpoint, err)
	}
	exp := signedAt.Add(RDSTokenLifetime)
	if creds.CanExpire && creds.Expires.Before(exp) {
		exp = creds.Expires
	}
	return azcore.AccessToken{Token: tok, ExpiresOn: exp}, nil
}

package auth

import "errors"

// Sentinel errors. Every error the package returns wraps one of them, and every one of them means
// "unauthorized": AMQP answers amqp:unauthorized-access (or status 401 on $cbs and $management),
// HTTP answers 401. None of them says whether a key name exists.
var (
	// ErrNoToken reports a request that carries no token, or no token covering the resource.
	ErrNoToken = errors.New("no token authorizes this resource")
	// ErrMalformed reports a token that cannot be parsed.
	ErrMalformed = errors.New("malformed token")
	// ErrInvalidSignature reports a SAS token whose signature does not verify, including one signed
	// with a key name that does not exist (the two are indistinguishable to the client).
	ErrInvalidSignature = errors.New("the token has an invalid signature")
	// ErrExpired reports a token past its expiry (or, for a JWT, before its not-before time).
	ErrExpired = errors.New("the token is expired")
	// ErrAudience reports a token issued for another resource.
	ErrAudience = errors.New("the token is not valid for this resource")
	// ErrMissingRight reports a valid token lacking the claim the operation needs.
	ErrMissingRight = errors.New("a claim is missing")
	// ErrTokenType reports an unsupported token type, or a JWT while JWTs are not accepted.
	ErrTokenType = errors.New("unsupported token type")
	// ErrInvalidConfig reports an invalid Config given to New.
	ErrInvalidConfig = errors.New("invalid authorization config")
)

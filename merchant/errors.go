// Package merchant holds merchant accounts and the policy a call must pass:
// app_key, timestamp, signature, status, expiry, grant, rate limit, quota.
package merchant

import "errors"

// Policy failures, in the order they are checked.
var (
	ErrUnknownAppKey  = errors.New("unknown app_key")
	ErrFrozen         = errors.New("merchant frozen")
	ErrDisabled       = errors.New("merchant disabled")
	ErrExpired        = errors.New("merchant account expired")
	ErrNotGranted     = errors.New("service not granted to merchant")
	ErrRateLimited    = errors.New("merchant over its rate limit")
	ErrQuotaExhausted = errors.New("merchant free quota used up")
)

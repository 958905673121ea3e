// Package merchant holds merchant accounts and the policy a call must pass:
// app_key, timestamp, signature, status, expiry, grant, rate limit, quota.
package merchant

import (
	"errors"

	"github.com/portrait-id/portrait/protocol"
)

// Policy failures, in the order they are checked, each with the document's
// code. None shows a caller more than its code: what an account is would
// help someone probing accounts.
var (
	ErrUnknownAppKey  = protocol.New(protocol.CodeAppKey, "unknown app_key")
	ErrFrozen         = protocol.New(protocol.CodeFrozen, "merchant frozen")
	ErrDisabled       = protocol.New(protocol.CodeDisabled, "merchant disabled")
	ErrExpired        = protocol.New(protocol.CodeAccountExpired, "merchant account expired")
	ErrNotGranted     = protocol.New(protocol.CodeNotGranted, "service not granted to merchant")
	ErrRateLimited    = protocol.New(protocol.CodeRateLimited, "merchant over its rate limit")
	ErrQuotaExhausted = protocol.New(protocol.CodeQuotaExhausted, "merchant free quota used up")

	// ErrSignReused is a sign already accepted, within the timestamp
	// window, for a request with other fields or another selfie: a captured
	// call whose characters were shifted between fields, or replayed with
	// someone else's selfie.
	ErrSignReused = protocol.Wrap(protocol.CodeParameter, "sign already used for another request",
		errors.New("sign reused"))
	// ErrAuthThrottled is joined to a failed authentication (unknown
	// app_key, bad timestamp or signature, reused sign) once its source or
	// app_key has spent its failure budget: the answer is the same, but it
	// is neither logged nor recorded in the ledger.
	ErrAuthThrottled = errors.New("failed authentications over budget")
)

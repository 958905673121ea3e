// Package verify decides one portrait-verification call: merchant policy,
// idempotent replay, ID rules, selfie quality, identity lookup, comparison
// and the ledger row, returning a typed Outcome that the HTTP layer renders.
package verify

import (
	"context"
	"time"

	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/protocol"
)

// Request is one call as parsed from the wire, before any check but UTF-8
// and presence of the required fields.
type Request struct {
	TraceID   string // minted by the HTTP layer; a replay answers with the first call's
	AppKey    string
	RequestID string
	IDNumber  string
	Name      string
	Timestamp string // as sent, since it is signed as sent
	Sign      string
	Selfie    []byte // decoded image bytes
	Received  time.Time
	Source    string   // the caller's address (http.Request.RemoteAddr), for the failed-authentication budget
	Service   string   // the merchant service the API sells (merchant.ServicePortrait)
	Signed    []string // the values of the API's signed parameters, in signing order
}

// Data is the document's data object. Fields beyond Result are meaningful only
// as the document says: IDName when Result is 1, Photo when IDName is 1,
// Score when Photo is 1; Reason only when Result is 2.
type Data struct {
	Result int
	IDName int
	Photo  int
	Score  float64
	Reason string
}

// Outcome is the answer to one call. Err is nil exactly when the call
// succeeded (code 0000); otherwise protocol.Classify reads its code and the
// detail a caller may see.
type Outcome struct {
	TraceID string
	Data    Data
	Err     error
	Charged bool
	// Merchant is the app_key of the merchant the call is attributed to:
	// set once the app_key named an account that exists, so that a metric
	// labelled by it stays bounded by the merchants there are.
	Merchant string
	// upstream goes to the ledger row only: the merchant never sees our
	// supplier.
	upstream identity.UpstreamCall
}

// Verifier is what the HTTP layer needs of the domain.
type Verifier interface {
	Verify(ctx context.Context, req Request) Outcome
}

// ErrRequestIDReused is a request_id this merchant already used with a
// different ID number, name or selfie.
var ErrRequestIDReused = &protocol.Error{Code: protocol.CodeParameter, Detail: "request_id already used with a different id_number, name or selfie"}

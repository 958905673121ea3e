// Package identity answers who an ID number belongs to and what their
// reference face looks like: the embedded registry, or an upstream supplier.
package identity

import "github.com/portrait-id/portrait/protocol"

// ErrUnavailable is an identity source that failed or timed out; the call is
// answered 2000 and not charged.
var ErrUnavailable = protocol.New(protocol.CodeSupplier, "identity source unavailable")

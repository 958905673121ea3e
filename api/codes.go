package api

import (
	"errors"

	"github.com/portrait-id/portrait/protocol"
)

// Errors of the parse layer; the errors this package returns wrap them in a
// *protocol.Error with the parameter's detail.
var (
	// ErrEncoding is a parameter whose bytes are not UTF-8.
	ErrEncoding = errors.New("parameter not UTF-8")
	// ErrParameter is a missing, empty or malformed parameter, or a body
	// over the limit.
	ErrParameter = errors.New("invalid parameter")
)

// badParam is a parse failure answered 1002 with detail, e.g. "missing name".
func badParam(detail string) error {
	return protocol.Wrap(protocol.CodeParameter, detail, ErrParameter)
}

// notUTF8 is a parameter answered 1001, naming it.
func notUTF8(field string) error { return protocol.Wrap(protocol.CodeEncoding, field, ErrEncoding) }

func missingParam(field string) error { return badParam("missing " + field) }

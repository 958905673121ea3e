package api

import (
	"errors"
	"strings"

	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/idcard"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/sign"
	"github.com/portrait-id/portrait/upstream"
	"github.com/portrait-id/portrait/verify"
)

// Errors of the parse layer; the errors this package returns wrap them in a
// *paramError naming the parameter.
var (
	// ErrEncoding is a parameter whose bytes are not UTF-8.
	ErrEncoding = errors.New("parameter not UTF-8")
	// ErrParameter is a missing, empty or malformed parameter, or a body
	// over the limit.
	ErrParameter = errors.New("invalid parameter")
)

// paramError is a parse failure; its message is the detail appended to the
// document's msg, e.g. "missing name".
type paramError struct {
	kind   error
	detail string
}

func (e *paramError) Error() string { return e.detail }
func (e *paramError) Unwrap() error { return e.kind }

func badParam(detail string) error    { return &paramError{kind: ErrParameter, detail: detail} }
func notUTF8(field string) error      { return &paramError{kind: ErrEncoding, detail: field} }
func missingParam(field string) error { return badParam("missing " + field) }

// detailRule says what, if anything, an error may add to the document's msg.
type detailRule int

const (
	// noDetail: the code says all a caller may learn (a signature or app_key
	// detail would help someone probing accounts; internal errors stay inside).
	noDetail detailRule = iota
	// fixedDetail: always the row's detail text.
	fixedDetail
	// wrapperDetail: the message of the error that wraps the sentinel, which
	// domain packages write for merchants' developers (idcard's rule names,
	// face's image problems), after the row's label.
	wrapperDetail
)

// The one table from errors to the document's codes, checked in order.
var codeTable = []struct {
	err    error
	code   client.Code
	detail detailRule
	label  string // fixedDetail: the detail; wrapperDetail: a prefix naming the field
}{
	{ErrEncoding, client.CodeEncoding, wrapperDetail, ""},
	{ErrParameter, client.CodeParameter, wrapperDetail, ""},
	{sign.ErrSignature, client.CodeSignature, noDetail, ""},
	{sign.ErrTimestampFormat, client.CodeParameter, fixedDetail, "timestamp must be milliseconds since 1970-01-01T00:00:00Z"},
	{sign.ErrExpired, client.CodeRequestExpired, noDetail, ""},
	{merchant.ErrUnknownAppKey, client.CodeAppKey, noDetail, ""},
	{merchant.ErrFrozen, client.CodeFrozen, noDetail, ""},
	{merchant.ErrDisabled, client.CodeDisabled, noDetail, ""},
	{merchant.ErrExpired, client.CodeAccountExpired, noDetail, ""},
	{merchant.ErrNotGranted, client.CodeNotGranted, noDetail, ""},
	{upstream.ErrIDDailyLimit, client.CodeRateLimited, fixedDetail, "id_number daily limit"},
	{merchant.ErrRateLimited, client.CodeRateLimited, noDetail, ""},
	{merchant.ErrQuotaExhausted, client.CodeQuotaExhausted, noDetail, ""},
	{idcard.ErrInvalid, client.CodeParameter, wrapperDetail, ""},
	{verify.ErrRequestIDReused, client.CodeParameter, fixedDetail, "request_id already used with a different id_number, name or selfie"},
	{face.ErrImage, client.CodeParameter, wrapperDetail, "selfie"},
	{identity.ErrUnavailable, client.CodeSupplier, noDetail, ""},
}

// CodeOf maps an error of any layer to the document's code: nil is "0000",
// anything the table does not know is "9999". The domain records codes in
// the ledger through this function, injected, so that there is one mapping.
func CodeOf(err error) string {
	code, _ := classify(err)
	return string(code)
}

// Message is the document's msg text for a code.
func Message(code string) string {
	return client.Code(code).Message()
}

// classify returns the code of err and the detail to append to its msg.
func classify(err error) (client.Code, string) {
	if err == nil {
		return client.CodeOK, ""
	}
	for _, row := range codeTable {
		if !errors.Is(err, row.err) {
			continue
		}
		switch row.detail {
		case fixedDetail:
			return row.code, row.label
		case wrapperDetail:
			return row.code, wrapperMessage(err, row.err, row.label)
		}
		return row.code, ""
	}
	return client.CodeOther, ""
}

// wrapperMessage finds, in err's chain, the error that wraps sentinel
// directly and returns its message without the sentinel's own text, e.g.
// "not a JPG, PNG, BMP, GIF or TIFF file" from
// fmt.Errorf("%w: not a JPG...", face.ErrImage), prefixed with label.
func wrapperMessage(err, sentinel error, label string) string {
	detail := ""
	for e := err; e != nil; e = errors.Unwrap(e) {
		if errors.Unwrap(e) != sentinel {
			continue
		}
		msg, text := e.Error(), sentinel.Error()
		switch {
		case strings.HasPrefix(msg, text): // fmt.Errorf("%w: detail", sentinel)
			detail = strings.TrimLeft(msg[len(text):], ": ")
		case !strings.Contains(msg, text): // a typed error whose message is the detail
			detail = msg
		}
		// Otherwise the wrapper only adds the caller's context before the
		// sentinel ("probe: invalid image"), which is no detail for a client.
		break
	}
	switch {
	case label == "":
		return detail
	case detail == "":
		return label
	}
	return label + " " + detail
}

// msgFor is the envelope's msg: the document's text, then the detail.
func msgFor(code client.Code, detail string) string {
	if detail == "" {
		return code.Message()
	}
	return code.Message() + ": " + detail
}

package protocol

import "errors"

// Error is a failure that the API answers with Code. Detail is what a caller
// may read of it, appended to the code's message ("" for nothing: a
// signature or app_key detail would help someone probing accounts, and
// internal errors stay inside); Err is the cause, for logs and errors.Is.
type Error struct {
	Code   Code
	Detail string
	Err    error
}

// New returns a sentinel of code: an error without caller-visible detail
// whose text is for logs.
func New(code Code, text string) *Error { return &Error{Code: code, Err: errors.New(text)} }

// Wrap returns err answered as code with detail shown to the caller.
func Wrap(code Code, detail string, err error) *Error {
	return &Error{Code: code, Detail: detail, Err: err}
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Detail != "":
		return e.Detail + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Err.Error()
	case e.Detail != "":
		return e.Detail
	}
	return string(e.Code) + " " + e.Code.Message()
}

func (e *Error) Unwrap() error { return e.Err }

// CodeOf is the code an error is answered with: CodeOK for nil, the code of
// the outermost *Error in err's chain (the last layer to decide), and
// CodeOther for an error no layer classified.
func CodeOf(err error) Code {
	code, _ := Classify(err)
	return code
}

// Classify returns CodeOf(err) and the detail a caller may see.
func Classify(err error) (Code, string) {
	if err == nil {
		return CodeOK, ""
	}
	var e *Error
	if !errors.As(err, &e) {
		return CodeOther, ""
	}
	return e.Code, e.Detail
}

// Package api is the wire protocol of the portrait-verification API: it parses
// the document's request bodies, hands the call to a verify.Verifier, maps
// every error to the document's codes in one table and writes the document's
// JSON envelope.
package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/portrait-id/portrait/gate"
	"github.com/portrait-id/portrait/idcard"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/protocol"
	"github.com/portrait-id/portrait/verify"
)

// Path is where the document's API lives.
const Path = protocol.Path

// Options tune the handler.
type Options struct {
	// Logger receives one record per call; nil logs JSON to standard error.
	Logger *slog.Logger
	// Observer, when set, is told of every answer at Path (metrics).
	Observer Observer
	// Bodies, when set, bounds the bytes of request bodies being read and
	// held by calls in flight: a body that does not fit in time is answered
	// gate.ErrBusy before a byte of it is read.
	Bodies *gate.Budget
	// FailureBudget, when set, draws one failure from the budget of a
	// caller's address (http.Request.RemoteAddr) and reports whether it was
	// spent (merchant.Service.OverFailureBudget); a call refused at parse
	// past it is answered as always but not logged.
	FailureBudget func(source string) bool
}

// Observer is told of each answer at Path as the caller got it: merchant is
// the app_key of a merchant that exists ("" when none does), code and
// charged the envelope's, data its data (nil unless code is 0000).
type Observer interface {
	ObserveCall(merchant string, code protocol.Code, charged bool, data *verify.Data, d time.Duration)
}

// NewHandler serves the document's API at Path with v deciding each call.
//
// Every answer is the document's JSON envelope. Documented codes, 9999
// included, use HTTP 200, because the document's Java client reads the body
// through getInputStream, which throws on a status of 400 or more. Requests
// outside the API get the envelope too, with an HTTP status saying why: 405
// and code 1002 for another method on Path (the document requires POST), 404
// and code 9999 for any other path. GET OpenAPIPath serves the API's OpenAPI
// document.
func NewHandler(v verify.Verifier, opts Options) http.Handler {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	h := &handler{log: logger, observer: opts.Observer, bodies: opts.Bodies, failureBudget: opts.FailureBudget}
	mux := http.NewServeMux()
	for _, e := range endpoints(v) {
		mux.HandleFunc("POST "+e.path, h.serve(e))
		mux.HandleFunc(e.path, h.wrongMethod)
	}
	mux.HandleFunc("GET "+OpenAPIPath, serveOpenAPI)
	mux.HandleFunc("/", h.notFound)
	return mux
}

// endpoint is one API of the document: where it lives, the parameters its
// body carries and those of them signed, in signing order, the merchant
// service it sells, how its parameters make the request, and the decider. Every endpoint runs the same lifecycle (body budget, parse,
// decision, envelope, log, metrics), so another API costs an entry here and
// a service, not a copy of the handler.
type endpoint struct {
	path    string
	fields  *fields
	signed  []string
	service string                               // as merchants are granted it (merchant.Services)
	request func(p *params, req *verify.Request) // p has passed fields' checks
	decider verify.Verifier
}

// endpoints are the APIs served, v deciding the verifications.
func endpoints(v verify.Verifier) []endpoint {
	return []endpoint{{
		path: Path, fields: verificationFields,
		signed:  []string{fieldAppKey, fieldIDNumber, fieldName, fieldRequestID, fieldTimestamp},
		service: merchant.ServicePortrait, request: verificationRequest, decider: v,
	}}
}

// verificationRequest fills req with a verification's parameters.
func verificationRequest(p *params, req *verify.Request) {
	req.AppKey = string(p.text[fieldAppKey])
	req.RequestID = string(p.text[fieldRequestID])
	req.IDNumber = string(p.text[fieldIDNumber])
	req.Name = string(p.text[fieldName])
	req.Timestamp = string(p.text[fieldTimestamp])
	req.Sign = string(p.text[fieldSign])
}

// errPanic is a call whose parsing panicked: a bug, answered 9999.
var errPanic = errors.New("internal error: parsing the call panicked")

type handler struct {
	log           *slog.Logger
	observer      Observer
	bodies        *gate.Budget
	failureBudget func(source string) bool
}

// serve answers calls at e.path.
func (h *handler) serve(e endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { h.call(w, r, e) }
}

func (h *handler) call(w http.ResponseWriter, r *http.Request, e endpoint) {
	start := time.Now()
	req := verify.Request{TraceID: newTraceID(), Received: start, Source: r.RemoteAddr}
	out := h.run(w, r, e, &req)
	code, detail := protocol.Classify(out.Err)
	env := envelope{
		TraceID: out.TraceID,
		Code:    string(code),
		Msg:     protocol.Msg(code, detail),
		Charge:  protocol.ChargeNo,
	}
	if env.TraceID == "" {
		env.TraceID = req.TraceID
	}
	if out.Charged {
		env.Charge = protocol.ChargeYes
	}
	if code == protocol.CodeOK {
		env.Data = renderData(out.Data)
	}
	h.logCall(r, &req, out, env, start)
	h.write(w, http.StatusOK, env)
	if h.observer != nil {
		var data *verify.Data
		if code == protocol.CodeOK {
			data = &out.Data
		}
		h.observer.ObserveCall(out.Merchant, code, out.Charged, data, time.Since(start))
	}
}

// logCall records one call, masked, before its answer is written, so that a
// caller that has the answer also finds the record.
//
// A failed authentication or a malformed call past its source's budget is
// not logged: anyone can send those at line rate, and the metrics still
// count their answers.
func (h *handler) logCall(r *http.Request, req *verify.Request, out verify.Outcome, env envelope, start time.Time) {
	if errors.Is(out.Err, merchant.ErrAuthThrottled) {
		return
	}
	code := protocol.Code(env.Code)
	attrs := []slog.Attr{
		slog.String("trace_id", env.TraceID),
		slog.String("app_key", req.AppKey),
		slog.String("request_id", req.RequestID),
		slog.String("id_number", idcard.MaskID(req.IDNumber)),
		slog.String("name", idcard.MaskName(req.Name)),
		slog.Int("selfie_bytes", len(req.Selfie)),
		slog.String("code", env.Code),
		slog.Int("charge", env.Charge),
		slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
	}
	if env.Data != nil {
		attrs = append(attrs, slog.Int("result", env.Data.Result))
	}
	level := slog.LevelInfo
	if out.Err != nil {
		attrs = append(attrs, slog.String("error", out.Err.Error()))
	}
	// The document bills by charge: one that breaks its rule is a bug in the
	// domain that must be seen, not silently corrected here, since the ledger
	// holds what Outcome.Charged says.
	if out.Charged != (code == protocol.CodeOK && out.Data.Result == protocol.ResultFound) {
		level = slog.LevelError
		attrs = append(attrs, slog.Bool("charge_rule_broken", true))
	}
	if code == protocol.CodeOther {
		level = slog.LevelError
	}
	h.log.LogAttrs(r.Context(), level, "portrait_verification", attrs...)
}

// run parses the call into req and has e's decider decide it; a parse
// failure is an Outcome like any other.
func (h *handler) run(w http.ResponseWriter, r *http.Request, e endpoint, req *verify.Request) (out verify.Outcome) {
	defer func() {
		if v := recover(); v != nil {
			h.log.Error("call panicked", slog.String("trace_id", req.TraceID),
				slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
			out = verify.Outcome{Err: errPanic}
		}
	}()
	if h.bodies != nil {
		// A body of unknown length may be as long as the limit.
		n := r.ContentLength
		if n < 0 || n > MaxBodyBytes {
			n = MaxBodyBytes
		}
		release, err := h.bodies.Take(r.Context(), n)
		if err != nil {
			// Busy: the body is not kept, but it is read (up to the
			// limit, into nothing) before the answer. Closing on a client
			// still writing its body resets the connection, and the client
			// sees a broken pipe instead of 1006 "retry later": 12 of 400
			// concurrent 2.8 MB posts did on a loaded 2-core machine.
			io.Copy(io.Discard, io.LimitReader(r.Body, MaxBodyBytes))
			return verify.Outcome{Err: err}
		}
		defer release()
	}
	p, err := readParams(w, r, e.fields)
	if err == nil {
		err = p.check(e.fields)
	}
	if err != nil {
		if h.failureBudget != nil && h.failureBudget(r.RemoteAddr) {
			err = fmt.Errorf("%w (%w)", err, merchant.ErrAuthThrottled)
		}
		return verify.Outcome{Err: err}
	}
	e.request(p, req)
	req.Service = e.service
	req.Signed = make([]string, len(e.signed))
	for i, f := range e.signed {
		req.Signed[i] = string(p.text[f])
	}
	if req.Selfie, err = p.selfie(); err != nil {
		return verify.Outcome{Err: err}
	}
	return e.decider.Verify(r.Context(), *req)
}

func (h *handler) wrongMethod(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	start := time.Now()
	h.reject(w, r, http.StatusMethodNotAllowed, protocol.CodeParameter, "method "+r.Method+" not allowed, use POST")
	if h.observer != nil {
		h.observer.ObserveCall("", protocol.CodeParameter, false, nil, time.Since(start))
	}
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.reject(w, r, http.StatusNotFound, protocol.CodeOther, "no such API, use POST "+Path)
}

func (h *handler) reject(w http.ResponseWriter, r *http.Request, status int, code protocol.Code, detail string) {
	env := envelope{TraceID: newTraceID(), Code: string(code), Msg: protocol.Msg(code, detail), Charge: protocol.ChargeNo}
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "rejected",
		slog.String("trace_id", env.TraceID), slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.String("code", env.Code))
	h.write(w, status, env)
}

func (h *handler) write(w http.ResponseWriter, status int, env envelope) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(env); err != nil {
		// Only a float that is NaN or infinite can fail here: a domain bug.
		h.log.Error("encode response", slog.String("trace_id", env.TraceID), slog.String("error", err.Error()))
		buf.Reset()
		code := protocol.CodeOther
		enc.Encode(envelope{TraceID: env.TraceID, Code: string(code), Msg: code.Message(), Charge: env.Charge})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// envelope is the document's response object; field order is wire order.
type envelope struct {
	TraceID string    `json:"trace_id"`
	Code    string    `json:"code"`
	Msg     string    `json:"msg"`
	Data    *dataJSON `json:"data,omitempty"`
	Charge  int       `json:"charge"`
}

// dataJSON is the document's data object; a nil pointer is a field the
// document says is absent in that case.
type dataJSON struct {
	Result int      `json:"result"`
	IDName *int     `json:"id_name,omitempty"`
	Photo  *int     `json:"photo,omitempty"`
	Score  *float64 `json:"score,omitempty"`
	Reason string   `json:"reason,omitempty"`
}

// renderData applies the document's nesting: id_name only when result is 1,
// photo only when id_name is 1, score only when photo is 1; reason only with
// result 2.
func renderData(d verify.Data) *dataJSON {
	out := &dataJSON{Result: d.Result}
	if d.Result == protocol.ResultBadQuality {
		out.Reason = d.Reason
		return out
	}
	if d.Result != protocol.ResultFound {
		return out
	}
	out.IDName = &d.IDName
	if d.IDName != protocol.IDNameMatch {
		return out
	}
	out.Photo = &d.Photo
	if d.Photo != protocol.PhotoCompared {
		return out
	}
	// At most two decimals: the shortest float formatting of the rounded
	// value prints 87.53, not 87.530000001.
	score := protocol.RoundScore(d.Score)
	out.Score = &score
	return out
}

// newTraceID is "TID" and 32 lowercase hex digits of crypto/rand, the
// document's trace_id form.
func newTraceID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return "TID" + hex.EncodeToString(b[:])
}

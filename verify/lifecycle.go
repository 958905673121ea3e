package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/portrait-id/portrait/idcard"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/protocol"
	"github.com/portrait-id/portrait/store"
)

// errPanic is a call whose deciding code panicked: a bug, answered 9999.
var errPanic = errors.New("internal error: a stage of the call panicked")

// Verify implements Verifier: one call's lifecycle, every stage under one
// deadline (CallTimeout from the call's arrival):
//
//  1. authenticate: app_key, timestamp, signature, sign reuse, status,
//     expiry, grant (merchant policy); an unknown app_key, and a failed
//     authentication past its budget, are answered without a ledger row,
//     every later outcome of this call gets one;
//  2. claim: idempotency. A request_id this merchant already got a 0000
//     answer for is answered with that answer (same trace_id, data and
//     charge; no new row, no rate token, no quota) when its content is the
//     same, and with ErrRequestIDReused when not; a retry arriving while its
//     first call runs waits for it. Error answers are not remembered: a
//     retry runs again. The answer is found in the ledger (its row carries
//     the request's content digest), so it is remembered as long as the
//     ledger keeps the row, across restarts and instances, well beyond the
//     24 h promised;
//  3. admit: rate limit and quota reservation;
//  4. decide: ID number and name rules, a slot of the face pipeline (Gate),
//     selfie decode and quality gate, the per-ID-number daily limits (per
//     merchant and across merchants, whatever the source), identity lookup
//     under IdentityTimeout, comparison;
//  5. record: the ledger row, committed (with the quota use when charged)
//     before the answer is returned, within the deadline;
//  6. settle: the quota reservation and the claim released, deferred, so
//     that they are released whatever happened — a panic in any stage is
//     answered 9999, uncharged, with its ledger row.
func (s *Service) Verify(ctx context.Context, req Request) (out Outcome) {
	c := &call{s: s, req: req, start: req.Received}
	if c.start.IsZero() {
		c.start = s.cfg.Now()
	}
	ctx, cancel := context.WithDeadline(ctx, c.start.Add(s.cfg.CallTimeout))
	defer cancel()
	defer c.settle(ctx, &out)
	return c.run(ctx)
}

// call is one call's state through its lifecycle.
type call struct {
	s     *Service
	req   Request
	start time.Time

	acct     *merchant.Account
	release  func() // the request_id claim
	ticket   *merchant.Ticket
	recorded bool // the ledger has answered for this call's row
	refused  bool // the store refused its charge: quota used up elsewhere
}

func (c *call) run(ctx context.Context) Outcome {
	req := c.req
	digest := contentDigest(req)
	acct, err := c.s.cfg.Merchants.Authenticate(ctx, merchant.Call{
		AppKey: req.AppKey, Signed: req.Signed, Timestamp: req.Timestamp, Sign: req.Sign, Service: req.Service, Now: c.start,
		Unsigned: digest, Source: req.Source,
	})
	if errors.Is(err, merchant.ErrUnknownAppKey) || errors.Is(err, merchant.ErrAuthThrottled) {
		return Outcome{TraceID: req.TraceID, Err: err}
	}
	c.acct = acct
	if err != nil {
		return c.record(ctx, nil, Outcome{TraceID: req.TraceID, Err: err})
	}
	release, replay, err := c.s.claim(ctx, req, digest)
	if err != nil {
		return c.record(ctx, nil, Outcome{TraceID: req.TraceID, Err: err})
	}
	if replay != nil {
		return *replay
	}
	c.release = release
	if c.ticket, err = c.s.cfg.Merchants.Admit(acct, c.start); err != nil {
		return c.record(ctx, nil, Outcome{TraceID: req.TraceID, Err: err})
	}
	// The decision leaves the ledger its reserve of the deadline, so that
	// a slow stage still ends in a recorded answer.
	dctx, cancel := context.WithDeadline(ctx, c.start.Add(c.s.cfg.CallTimeout-c.s.cfg.LedgerReserve))
	out := c.s.decide(dctx, req, acct, c.start)
	cancel()
	var d *[32]byte
	if out.Err == nil {
		d = &digest
	}
	return c.record(ctx, d, out)
}

// settle ends the call whatever happened in it: a panic becomes a recorded
// 9999, the quota reservation is settled by what the ledger holds, the claim
// released, and the answer attributed to its merchant.
func (c *call) settle(ctx context.Context, out *Outcome) {
	if r := recover(); r != nil {
		c.s.cfg.Logger.Error("call panicked", slog.String("trace_id", c.req.TraceID),
			slog.String("panic", fmt.Sprint(r)), slog.String("stack", string(debug.Stack())))
		*out = Outcome{TraceID: c.req.TraceID, Err: errPanic}
		if c.acct != nil && !c.recorded {
			*out = c.recordSafely(ctx, *out)
		}
	}
	if c.ticket != nil {
		if c.refused {
			c.ticket.Refused()
		} else {
			c.ticket.Settle(out.Charged)
		}
	}
	if c.release != nil {
		c.release()
	}
	if c.acct != nil {
		out.Merchant = c.acct.AppKey
	}
}

// recordSafely is record for an answer to a panic: a second panic (in the
// ledger) leaves the call unrecorded and uncharged rather than escaping.
func (c *call) recordSafely(ctx context.Context, out Outcome) (res Outcome) {
	defer func() {
		if r := recover(); r != nil {
			res = Outcome{TraceID: out.TraceID, Err: errPanic}
		}
	}()
	return c.record(ctx, nil, out)
}

// record writes out's ledger row and returns the outcome to answer, which
// differs from out when the ledger refuses it: a charge beyond the quota
// (another process spent it) answers ErrQuotaExhausted, a ledger failure
// (the deadline passing included) an internal error, both uncharged. digest
// is set for answers a retry replays.
func (c *call) record(ctx context.Context, digest *[32]byte, out Outcome) Outcome {
	req := c.req
	row := store.LedgerRow{
		TraceID:   out.TraceID,
		AppKey:    req.AppKey,
		RequestID: req.RequestID,
		Code:      string(protocol.CodeOf(out.Err)),
		Result:    out.Data.Result,
		IDName:    out.Data.IDName,
		Photo:     out.Data.Photo,
		Score:     out.Data.Score,
		Reason:    out.Data.Reason,
		Charged:   out.Charged,
		Time:      c.start,
		IDMasked:  idcard.MaskID(req.IDNumber),

		UpstreamTraceID: out.upstream.TraceID,
		UpstreamCharged: out.upstream.Charged,
	}
	if digest != nil {
		row.Digest = digest[:]
	}
	row.Latency = c.s.cfg.Now().Sub(c.start)
	// The caller going away does not cancel the row (a charged answer is
	// never sent without it), but the call's deadline bounds it.
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), c.start.Add(c.s.cfg.CallTimeout))
	defer cancel()
	err := c.s.cfg.Ledger.Record(rctx, row)
	c.recorded = true
	if err == nil {
		return out
	}
	if errors.Is(err, store.ErrQuotaExhausted) {
		c.refused = true
		// The supplier's bill stands even though we charge nothing.
		refused := Outcome{TraceID: out.TraceID, Err: fmt.Errorf("%w: %w", merchant.ErrQuotaExhausted, err), upstream: out.upstream}
		return c.record(ctx, nil, refused)
	}
	c.s.cfg.Logger.Error("ledger write failed", slog.String("trace_id", out.TraceID),
		slog.String("app_key", req.AppKey), slog.String("error", err.Error()))
	return Outcome{TraceID: out.TraceID, Err: fmt.Errorf("record ledger row: %w", err)}
}

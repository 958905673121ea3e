package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/gate"
	"github.com/portrait-id/portrait/idcard"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/protocol"
	"github.com/portrait-id/portrait/store"
)

// Faces is what a call needs of the face pipeline (face.Pipeline).
type Faces interface {
	// Probe decodes, quality-checks and embeds a selfie; errors wrap
	// face.ErrImage or are a *face.QualityError.
	Probe(ctx context.Context, img []byte) (face.Template, error)
	// Score is the calibrated 0..100 similarity of two templates.
	Score(probe, ref face.Template) (float64, error)
}

// Ledger is where every call of a known merchant is recorded.
type Ledger interface {
	// Record returns once row is durable; an error wrapping
	// store.ErrQuotaExhausted refuses a charged row.
	Record(ctx context.Context, row store.LedgerRow) error
	// Answer returns the recorded answer (a row with a Digest) to appKey's
	// requestID, or an error wrapping store.ErrNotFound.
	Answer(ctx context.Context, appKey, requestID string) (store.LedgerRow, error)
}

// Claims marks calls in flight by merchant and request_id, so that a retry
// arriving while its first call still runs is not run twice.
type Claims interface {
	// Claim marks key as in flight for a request of content digest and
	// returns the function that ends the claim; when another call holds key it
	// returns that call's digest instead.
	Claim(ctx context.Context, key string, digest [32]byte) (release func(), holder *[32]byte, err error)
}

// Config wires a Service. Every field but IdentityTimeout,
// ReplayWait, Now and Logger is required.
type Config struct {
	Merchants  *merchant.Service
	Claims     Claims
	Faces      Faces
	Identities identity.Source
	Ledger     Ledger
	// IdentityTimeout bounds one identity lookup; past it the call answers
	// identity.ErrUnavailable. Default 3 s.
	IdentityTimeout time.Duration
	// ReplayWait bounds how long a retry waits for its first call, still in
	// flight, to finish. Default 20 s.
	ReplayWait time.Duration
	// CallTimeout is the deadline of one call from its arrival, which every
	// stage honours; LedgerReserve is the part of it kept for the ledger
	// row, the decision getting the rest. Defaults DefaultCallTimeout and
	// DefaultLedgerReserve.
	CallTimeout   time.Duration
	LedgerReserve time.Duration
	// IDLimits, when set, are the per-ID-number daily limits, per merchant
	// and across all merchants.
	IDLimits *merchant.IDLimits
	// Pipeline, when set, bounds the selfies in the face pipeline at once;
	// a call that finds no slot in time is answered gate.ErrBusy.
	Pipeline *gate.Gate
	Now      func() time.Time
	Logger   *slog.Logger
}

// The default deadline of a call and the ledger's part of it. The
// document's Java client reads for 3 s; a call past 10 s has been given up
// by any client, and finishing it would only take capacity from the next.
const (
	DefaultCallTimeout   = 10 * time.Second
	DefaultLedgerReserve = 2 * time.Second
)

// Service is the Verifier of the product: it decides one call from policy to
// ledger.
type Service struct {
	cfg Config
}

var _ Verifier = (*Service)(nil)

// NewService checks cfg and returns a Service.
func NewService(cfg Config) (*Service, error) {
	if cfg.Merchants == nil || cfg.Claims == nil || cfg.Faces == nil || cfg.Identities == nil || cfg.Ledger == nil {
		return nil, errors.New("verify: Merchants, Claims, Faces, Identities and Ledger are required")
	}
	if cfg.IdentityTimeout == 0 {
		cfg.IdentityTimeout = 3 * time.Second
	}
	if cfg.ReplayWait == 0 {
		cfg.ReplayWait = 20 * time.Second
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.LedgerReserve <= 0 {
		cfg.LedgerReserve = min(DefaultLedgerReserve, cfg.CallTimeout/4)
	}
	if cfg.LedgerReserve >= cfg.CallTimeout {
		return nil, fmt.Errorf("verify: ledger reserve %s must be shorter than the call timeout %s", cfg.LedgerReserve, cfg.CallTimeout)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg}, nil
}

// replayPoll is how often a retry looks whether its first call has finished.
const replayPoll = 10 * time.Millisecond

// contentDigest identifies what a request_id was used for: ID number, name
// and selfie, each length-prefixed so that no two different requests share a
// digest. The selfie itself is never kept.
func contentDigest(req Request) [32]byte {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(req.IDNumber), []byte(req.Name), req.Selfie} {
		var n [8]byte
		for i, l := 0, uint64(len(part)); i < 8; i++ {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write(part)
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// claim returns either the release of this call's claim on its request_id,
// or the first call's answer to replay, or an error (ErrRequestIDReused, or
// a failure of the claim or ledger lookup).
func (s *Service) claim(ctx context.Context, req Request, digest [32]byte) (func(), *Outcome, error) {
	key := req.AppKey + "\x00" + req.RequestID
	deadline := time.Now().Add(s.cfg.ReplayWait)
	for {
		release, holder, err := s.cfg.Claims.Claim(ctx, key, digest)
		if err != nil {
			return nil, nil, fmt.Errorf("claim request_id: %w", err)
		}
		if holder != nil {
			if *holder != digest {
				return nil, nil, fmt.Errorf("request_id %q in flight with other content: %w", req.RequestID, ErrRequestIDReused)
			}
			if time.Now().After(deadline) {
				return nil, nil, fmt.Errorf("request_id %q: first call still running after %s", req.RequestID, s.cfg.ReplayWait)
			}
			select {
			case <-ctx.Done():
				return nil, nil, fmt.Errorf("wait for request_id %q: %w", req.RequestID, ctx.Err())
			case <-time.After(replayPoll):
			}
			continue
		}
		prev, err := s.cfg.Ledger.Answer(ctx, req.AppKey, req.RequestID)
		if errors.Is(err, store.ErrNotFound) {
			return release, nil, nil
		}
		release()
		if err != nil {
			return nil, nil, fmt.Errorf("look up earlier answer: %w", err)
		}
		if !bytes.Equal(prev.Digest, digest[:]) {
			return nil, nil, fmt.Errorf("request_id %q: %w", req.RequestID, ErrRequestIDReused)
		}
		return nil, &Outcome{
			TraceID: prev.TraceID,
			Data:    Data{Result: prev.Result, IDName: prev.IDName, Photo: prev.Photo, Score: prev.Score, Reason: prev.Reason},
			Charged: prev.Charged,
		}, nil
	}
}

// decide runs the checks past the policy: ID rules, selfie, lookup (by the
// merchant's route), score.
func (s *Service) decide(ctx context.Context, req Request, acct *merchant.Account, now time.Time) Outcome {
	out := Outcome{TraceID: req.TraceID}
	id, err := idcard.ValidateID(req.IDNumber, now)
	if err != nil {
		out.Err = ruleError(err)
		return out
	}
	// The name is signed as sent, and looked up in the one form the
	// registry stores and compares.
	name := idcard.NormalizeName(req.Name)
	if err := idcard.ValidateName(name); err != nil {
		out.Err = ruleError(err)
		return out
	}
	probe, err := s.probe(ctx, req.Selfie)
	var qe *face.QualityError
	if errors.As(err, &qe) {
		out.Data = Data{Result: protocol.ResultBadQuality, Reason: string(qe.Reason)}
		return out
	}
	if err != nil {
		out.Err = probeError(ctx, err)
		return out
	}
	// Past the quality gate every verification counts against the ID
	// number's daily limits, whichever source answers it.
	if err := s.cfg.IDLimits.Check(ctx, acct.AppKey, id); err != nil {
		out.Err = err
		return out
	}
	res, err := s.lookup(ctx, identity.Query{TraceID: req.TraceID, IDNumber: id, Name: name, Selfie: req.Selfie, Route: acct.Route})
	out.upstream = res.Upstream
	if errors.As(err, &qe) {
		out.Data = Data{Result: protocol.ResultBadQuality, Reason: string(qe.Reason)}
		return out
	}
	if err != nil {
		out.Err = err
		return out
	}
	out.Data.Result = protocol.ResultFound
	switch {
	case !res.Found || !res.NameMatch:
		out.Data.IDName = protocol.IDNameMismatch
	case !res.HasPhoto:
		out.Data.IDName, out.Data.Photo = protocol.IDNameMatch, protocol.PhotoMissing
	case !res.Usable:
		out.Data.IDName, out.Data.Photo = protocol.IDNameMatch, protocol.PhotoFeatureFailed
	case res.Scored:
		out.Data.IDName, out.Data.Photo, out.Data.Score = protocol.IDNameMatch, protocol.PhotoCompared, protocol.RoundScore(res.Score)
	default:
		score, err := s.cfg.Faces.Score(probe, res.Template)
		if err != nil {
			return Outcome{TraceID: req.TraceID, Err: fmt.Errorf("compare: %w", err), upstream: out.upstream}
		}
		out.Data.IDName, out.Data.Photo, out.Data.Score = protocol.IDNameMatch, protocol.PhotoCompared, protocol.RoundScore(score)
	}
	out.Charged = true
	return out
}

// probe runs the selfie through the face pipeline once a slot of it is free.
func (s *Service) probe(ctx context.Context, selfie []byte) (face.Template, error) {
	if s.cfg.Pipeline != nil {
		leave, err := s.cfg.Pipeline.Enter(ctx)
		if err != nil {
			return face.Template{}, err
		}
		defer leave()
	}
	return s.cfg.Faces.Probe(ctx, selfie)
}

// lookup asks the identity source under IdentityTimeout. Its failures are
// answered as identity.ErrUnavailable, except the quality verdict a source
// with a gate of its own decides. The result's Upstream survives every
// error.
func (s *Service) lookup(ctx context.Context, q identity.Query) (identity.Result, error) {
	lctx, cancel := context.WithTimeout(ctx, s.cfg.IdentityTimeout)
	defer cancel()
	res, err := s.cfg.Identities.Lookup(lctx, q)
	if err == nil {
		return res, nil
	}
	var qe *face.QualityError
	if errors.As(err, &qe) {
		return identity.Result{Upstream: res.Upstream}, err
	}
	if !errors.Is(err, identity.ErrUnavailable) {
		err = fmt.Errorf("%w: %w", identity.ErrUnavailable, err)
	}
	return identity.Result{Upstream: res.Upstream}, fmt.Errorf("identity lookup: %w", err)
}

// ruleError answers an ID number or name that breaks idcard's rules with
// 1002 and the rule's name, which a merchant's developer can act on.
func ruleError(err error) error {
	var re *idcard.RuleError
	if errors.As(err, &re) {
		return protocol.Wrap(protocol.CodeParameter, re.Rule, err)
	}
	return err
}

// probeError answers a selfie the face pipeline refused as input with 1002
// and its detail, and a pipeline cut short by the call's deadline as busy
// (the queue for it was too long); any other failure is internal.
func probeError(ctx context.Context, err error) error {
	var ie *face.ImageError
	switch {
	case errors.Is(err, gate.ErrBusy):
		return err
	case ctx.Err() != nil:
		return protocol.Wrap(gate.ErrBusy.Code, gate.ErrBusy.Detail, fmt.Errorf("selfie: %w", err))
	case errors.As(err, &ie):
		return protocol.Wrap(protocol.CodeParameter, "selfie "+ie.Detail, err)
	case errors.Is(err, face.ErrImage):
		return protocol.Wrap(protocol.CodeParameter, "selfie", err)
	}
	return fmt.Errorf("selfie: %w", err)
}

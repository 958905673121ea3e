package upstream

import (
	"context"
	"errors"
	"fmt"

	"github.com/portrait-id/portrait/protocol"

	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/identity"
)

// Mode is where verifications are answered from.
type Mode string

const (
	// ModeRegistry answers from the embedded registry only.
	ModeRegistry Mode = "registry"
	// ModeRegistryFirst answers from the registry when it can and asks the
	// upstream when the registry does not hold the ID number, holds no
	// photo for it, or none with a usable face. The default when an
	// upstream is configured: the operator's own records cost nothing and
	// answer in milliseconds, and the upstream is paid only for what they
	// lack. A name mismatch is an answer, not a gap: asking the upstream
	// then would let a caller try names against two sources.
	ModeRegistryFirst Mode = "registry-first"
	// ModeUpstream forwards every verification to the upstream.
	ModeUpstream Mode = "upstream"
)

// ParseMode reads a mode's name as configured; "" is def.
func ParseMode(s string, def Mode) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return def, nil
	case ModeRegistry, ModeRegistryFirst, ModeUpstream:
		return m, nil
	}
	return "", fmt.Errorf("route %q: want %s, %s or %s", s, ModeRegistry, ModeRegistryFirst, ModeUpstream)
}

// Router is the identity source verify.Service consults: it answers from the
// registry, the upstream, or both, by mode. A registry result is to be
// compared locally with its Template when Usable; an upstream's is already
// scored (Scored, Score) and carries the upstream call to record beside ours.
type Router struct {
	registry identity.Source
	upstream *Client
	mode     Mode
}

// UpstreamState is the upstream's circuit-breaker state (StateClosed,
// StateHalfOpen, StateOpen), "" when there is no upstream: for the
// operator's dashboard.
func (r *Router) UpstreamState() string {
	if r.upstream == nil {
		return ""
	}
	return r.upstream.BreakerState()
}

// Route returns a Router answering in mode by default. up may be nil only
// for ModeRegistry, registry only for ModeUpstream.
func Route(registry identity.Source, up *Client, mode Mode) (*Router, error) {
	r := &Router{registry: registry, upstream: up, mode: mode}
	if err := r.check(mode); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Router) check(m Mode) error {
	needRegistry := m == ModeRegistry || m == ModeRegistryFirst
	needUpstream := m == ModeUpstream || m == ModeRegistryFirst
	switch {
	case m != ModeRegistry && m != ModeRegistryFirst && m != ModeUpstream:
		return fmt.Errorf("route %q: unknown mode", m)
	case needRegistry && r.registry == nil:
		return fmt.Errorf("route %s: no registry", m)
	case needUpstream && r.upstream == nil:
		return fmt.Errorf("route %s: no upstream configured", m)
	}
	return nil
}

// ErrNoUpstream is a merchant routed to an upstream on an instance that has
// none configured: an operator's mistake, answered 2000 like any failure of
// the identity source, with this error in the call's log record.
var ErrNoUpstream = errors.New("merchant routed to an upstream but none is configured")

// Lookup implements identity.Source: it answers q in q.Route, the
// merchant's own route ("" for the Router's default). The selfie must
// already have passed the local quality gate. Errors wrap
// identity.ErrUnavailable (2000), or are a *face.QualityError when the
// upstream's stricter gate refused the selfie (result 2, as with our own
// gate); the Result's Upstream may be set beside an error.
func (r *Router) Lookup(ctx context.Context, q identity.Query) (identity.Result, error) {
	mode := Mode(q.Route)
	if mode == "" {
		mode = r.mode
	}
	if err := r.check(mode); err != nil {
		return identity.Result{}, fmt.Errorf("%w: %w", ErrNoUpstream, err)
	}
	if mode != ModeUpstream {
		res, err := r.registry.Lookup(ctx, q)
		if err != nil || mode == ModeRegistry || !registryLacks(res) {
			return res, err
		}
	}
	ans, err := r.upstream.Verify(ctx, q)
	if f := (*Failure)(nil); errors.As(err, &f) && f.TraceID != "" {
		return identity.Result{Upstream: identity.UpstreamCall{TraceID: f.TraceID, Charged: f.Charged}}, err
	}
	if err != nil {
		return identity.Result{}, err
	}
	if ans.Data.Result == protocol.ResultBadQuality {
		return identity.Result{Upstream: ans.call()}, &face.QualityError{Reason: face.Reason(ans.Data.Reason), Detail: "upstream's quality gate, trace_id " + ans.TraceID}
	}
	return resultOf(ans), nil
}

var _ identity.Source = (*Router)(nil)

// registryLacks reports whether the registry's answer is a gap the upstream
// may fill rather than an answer.
func registryLacks(res identity.Result) bool {
	return !res.Found || (res.NameMatch && !res.Usable)
}

// resultOf restates the upstream's data as an identity.Result, so a caller
// that reads Found/NameMatch/HasPhoto/Usable decides as for the registry.
func resultOf(ans Answer) identity.Result {
	d := ans.Data
	return identity.Result{
		Found:     d.IDName == protocol.IDNameMatch,
		NameMatch: d.IDName == protocol.IDNameMatch,
		HasPhoto:  d.Photo == protocol.PhotoCompared || d.Photo == protocol.PhotoFeatureFailed,
		Usable:    d.Photo == protocol.PhotoCompared,
		Scored:    d.Photo == protocol.PhotoCompared,
		Score:     d.Score,
		Upstream:  ans.call(),
	}
}

// call is the upstream call behind ans, for the ledger.
func (ans Answer) call() identity.UpstreamCall {
	return identity.UpstreamCall{TraceID: ans.TraceID, Charged: ans.Charged}
}

// Settings are the operator's choices about identity sources, as `portrait
// serve` reads them.
type Settings struct {
	Upstream *Config // nil: no upstream
	// Mode is the default route; "" means ModeRegistryFirst with an
	// upstream and ModeRegistry without.
	Mode Mode
}

// Open builds the Router the settings describe in front of registry.
func Open(registry identity.Source, s Settings) (*Router, error) {
	var up *Client
	mode := ModeRegistry
	if s.Upstream != nil {
		var err error
		if up, err = New(*s.Upstream); err != nil {
			return nil, err
		}
		mode = ModeRegistryFirst
	}
	if s.Mode != "" {
		mode = s.Mode
	}
	return Route(registry, up, mode)
}

package verify_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/ledger"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/state"
	"github.com/portrait-id/portrait/verify"
)

// scoringSource is a source that verifies by itself, as upstream routing
// is. It answers by the name: "scored" a comparison of its own,
// "gate" its quality verdict, "down" a failure,
// "billed" a failure the supplier charged us for; others fall through to
// the registry double. Its supplier's trace_id is "TIDup-" + the name.
// Names reach a source normalised, so in upper case.
type scoringSource struct {
	reg  *fakeSource
	seen []identity.Query
}

func (f *scoringSource) Lookup(ctx context.Context, c identity.Query) (identity.Result, error) {
	f.seen = append(f.seen, c)
	switch strings.ToLower(c.Name) {
	case "scored":
		return identity.Result{Found: true, NameMatch: true, HasPhoto: true, Usable: true, Scored: true, Score: 64.126,
			Upstream: identity.UpstreamCall{TraceID: "TIDup-scored", Charged: true}}, nil
	case "gate":
		return identity.Result{Upstream: identity.UpstreamCall{TraceID: "TIDup-gate"}}, &face.QualityError{Reason: face.ReasonPose, Detail: "upstream"}
	case "billed":
		return identity.Result{Upstream: identity.UpstreamCall{TraceID: "TIDup-billed", Charged: true}}, errors.New("data.score 101")
	case "down":
		return identity.Result{}, errors.New("connection reset")
	}
	return f.reg.Lookup(ctx, c)
}

func TestScoringSource(t *testing.T) {
	// The merchant's own route reaches the source with every call.
	e := newEnv(t, func(s *merchant.Settings) { s.Route = "upstream" })
	src := &scoringSource{reg: newSource()}
	book := ledger.Open(e.db)
	t.Cleanup(func() { book.Close() })
	svc, err := verify.NewService(verify.Config{
		Merchants: e.merch, Claims: state.NewClaims(), Faces: e.faces, Identities: src,
		Ledger: book,
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name         string
		wantCode     string
		want         verify.Data
		wantUpstream identity.UpstreamCall // as the ledger row must keep it
	}{
		{"scored", "0000", verify.Data{Result: 1, IDName: 1, Photo: 1, Score: 64.13}, identity.UpstreamCall{TraceID: "TIDup-scored", Charged: true}},
		{"gate", "0000", verify.Data{Result: 2, Reason: "pose"}, identity.UpstreamCall{TraceID: "TIDup-gate"}},
		{"down", "2000", verify.Data{}, identity.UpstreamCall{}},
		{"billed", "2000", verify.Data{}, identity.UpstreamCall{TraceID: "TIDup-billed", Charged: true}},
		{"张三", "0000", verify.Data{Result: 1, IDName: 1, Photo: 1, Score: 87.46}, identity.UpstreamCall{}}, // compared here
	}
	for _, c := range cases {
		req := e.request(strings.ToLower(idMatch), c.name, "selfie bytes")
		out := svc.Verify(ctx, req)
		if code := codeOf(out.Err); code != c.wantCode || out.Data != c.want {
			t.Errorf("%s: code %s (%v) data %+v; want %s %+v", c.name, code, out.Err, out.Data, c.wantCode, c.want)
		}
		if out.Charged != (c.want.Result == 1) {
			t.Errorf("%s: charged %v", c.name, out.Charged)
		}
		row, n := e.rowOf(req.TraceID)
		if got := (identity.UpstreamCall{TraceID: row.UpstreamTraceID, Charged: row.UpstreamCharged}); n != 1 || got != c.wantUpstream {
			t.Errorf("%s: %d ledger rows %+v; want one with upstream %+v", c.name, n, row, c.wantUpstream)
		}
		last := src.seen[len(src.seen)-1]
		if last.TraceID != req.TraceID || last.IDNumber != idMatch || string(last.Selfie) != "selfie bytes" || last.Route != "upstream" {
			t.Errorf("%s: source saw %+v", c.name, last)
		}
	}
	if _, err := verify.NewService(verify.Config{Merchants: e.merch, Claims: state.NewClaims(), Faces: e.faces,
		Ledger: e.book}); err == nil {
		t.Error("a service without any identity source was built")
	}
}

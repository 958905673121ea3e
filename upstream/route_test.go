package upstream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/upstream"
	"github.com/portrait-id/portrait/verify"
)

// registryStub is an identity.Source with one answer, counting lookups.
type registryStub struct {
	res   identity.Result
	err   error
	calls int
}

func (r *registryStub) Lookup(context.Context, identity.Query) (identity.Result, error) {
	r.calls++
	return r.res, r.err
}

func TestRouteModes(t *testing.T) {
	usable := identity.Result{Found: true, NameMatch: true, HasPhoto: true, Usable: true, Template: face.Template{Model: "m", Vector: []float32{1}}}
	upData := verify.Data{Result: 1, IDName: 1, Photo: 1, Score: 91}
	for _, tc := range []struct {
		name         string
		mode         upstream.Mode
		registry     identity.Result
		registryErr  error
		wantUpstream bool
		wantErr      error
	}{
		{"registry only, not found", upstream.ModeRegistry, identity.Result{}, nil, false, nil},
		{"registry only, failing", upstream.ModeRegistry, identity.Result{}, identity.ErrUnavailable, false, identity.ErrUnavailable},
		{"registry first, usable record", upstream.ModeRegistryFirst, usable, nil, false, nil},
		{"registry first, name mismatch is an answer", upstream.ModeRegistryFirst, identity.Result{Found: true}, nil, false, nil},
		{"registry first, not found", upstream.ModeRegistryFirst, identity.Result{}, nil, true, nil},
		{"registry first, no photo", upstream.ModeRegistryFirst, identity.Result{Found: true, NameMatch: true}, nil, true, nil},
		{"registry first, photo without face", upstream.ModeRegistryFirst, identity.Result{Found: true, NameMatch: true, HasPhoto: true}, nil, true, nil},
		{"registry first, registry failing is not masked", upstream.ModeRegistryFirst, identity.Result{}, identity.ErrUnavailable, false, identity.ErrUnavailable},
		{"upstream only", upstream.ModeUpstream, usable, nil, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFake(t, answering(upData, nil))
			reg := &registryStub{res: tc.registry, err: tc.registryErr}
			r, err := upstream.Route(reg, newClient(t, srv.URL, nil), upstream.ModeRegistry)
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.Lookup(context.Background(), routed(query("r"), tc.mode))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if asked := f.calls.Load() == 1; asked != tc.wantUpstream {
				t.Fatalf("upstream asked: %v, want %v", asked, tc.wantUpstream)
			}
			if wantReg := tc.mode != upstream.ModeUpstream; (reg.calls == 1) != wantReg {
				t.Errorf("registry asked %d times in mode %s", reg.calls, tc.mode)
			}
			if err != nil {
				return
			}
			if tc.wantUpstream {
				if res.Upstream.TraceID == "" || !res.Upstream.Charged || !res.Scored || res.Score != 91 || !res.Usable || !res.NameMatch {
					t.Errorf("result %+v, want the upstream's scored answer", res)
				}
			} else if res.Upstream.TraceID != "" || res.Scored || res.Found != tc.registry.Found || res.Usable != tc.registry.Usable {
				t.Errorf("result %+v, want the registry's %+v", res, tc.registry)
			}
		})
	}
}

func TestRouteUpstreamShapes(t *testing.T) {
	for _, tc := range []struct {
		data                                       verify.Data
		found, nameMatch, hasPhoto, usable, scored bool
	}{
		{verify.Data{Result: 1, IDName: 2}, false, false, false, false, false},
		{verify.Data{Result: 1, IDName: 1, Photo: 2}, true, true, false, false, false},
		{verify.Data{Result: 1, IDName: 1, Photo: 3}, true, true, true, false, false},
		{verify.Data{Result: 1, IDName: 1, Photo: 1, Score: 33}, true, true, true, true, true},
	} {
		_, srv := newFake(t, answering(tc.data, nil))
		r, err := upstream.Route(nil, newClient(t, srv.URL, nil), upstream.ModeUpstream)
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Lookup(context.Background(), query("r"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Found != tc.found || res.NameMatch != tc.nameMatch || res.HasPhoto != tc.hasPhoto || res.Usable != tc.usable || res.Scored != tc.scored || res.Score != tc.data.Score {
			t.Errorf("data %+v gave %+v", tc.data, res)
		}
	}
}

func TestRouteUpstreamQualityGate(t *testing.T) {
	_, srv := newFake(t, answering(verify.Data{Result: 2, Reason: "pose"}, nil))
	r, _ := upstream.Route(nil, newClient(t, srv.URL, nil), upstream.ModeUpstream)
	res, err := r.Lookup(context.Background(), query("r"))
	var qe *face.QualityError
	if !errors.As(err, &qe) || qe.Reason != face.ReasonPose {
		t.Fatalf("err %v, want a *face.QualityError with reason pose", err)
	}
	if res.Upstream.TraceID == "" || res.Upstream.Charged {
		t.Errorf("upstream call %+v not kept for the ledger", res.Upstream)
	}
}

func TestRouteConfig(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1", nil)
	reg := &registryStub{}
	for _, tc := range []struct {
		reg  identity.Source
		up   *upstream.Client
		mode upstream.Mode
		ok   bool
	}{
		{reg, nil, upstream.ModeRegistry, true},
		{reg, nil, upstream.ModeRegistryFirst, false},
		{nil, c, upstream.ModeUpstream, true},
		{nil, c, upstream.ModeRegistryFirst, false},
		{reg, c, "both", false},
	} {
		if _, err := upstream.Route(tc.reg, tc.up, tc.mode); (err == nil) != tc.ok {
			t.Errorf("Route(registry %v, upstream %v, %q): %v", tc.reg != nil, tc.up != nil, tc.mode, err)
		}
	}
	r, _ := upstream.Route(reg, nil, upstream.ModeRegistry)
	if _, err := r.Lookup(context.Background(), routed(query("r"), upstream.ModeUpstream)); !errors.Is(err, upstream.ErrNoUpstream) {
		t.Errorf("merchant routed to a missing upstream: %v", err)
	}
	for in, want := range map[string]upstream.Mode{"": upstream.ModeRegistryFirst, "registry": upstream.ModeRegistry, "upstream": upstream.ModeUpstream, "registry-first": upstream.ModeRegistryFirst} {
		if got, err := upstream.ParseMode(in, upstream.ModeRegistryFirst); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := upstream.ParseMode("Upstream", upstream.ModeRegistry); err == nil {
		t.Error("ParseMode accepted a misspelt mode")
	}
}

func TestOpenDefaults(t *testing.T) {
	_, srv := newFake(t, answering(verify.Data{Result: 1, IDName: 2}, nil))
	upCfg := &upstream.Config{URL: srv.URL, AppKey: testKey, AppSecret: testSecret}
	for _, tc := range []struct {
		name         string
		s            upstream.Settings
		registry     identity.Result
		wantUpstream bool
		wantErr      bool
	}{
		{"no upstream: registry only", upstream.Settings{}, identity.Result{}, false, false},
		{"upstream: registry first", upstream.Settings{Upstream: upCfg}, identity.Result{}, true, false},
		{"upstream, registry first keeps a registry answer", upstream.Settings{Upstream: upCfg}, identity.Result{Found: true}, false, false},
		{"upstream only", upstream.Settings{Upstream: upCfg, Mode: upstream.ModeUpstream}, identity.Result{Found: true}, true, false},
		{"upstream mode without an upstream", upstream.Settings{Mode: upstream.ModeUpstream}, identity.Result{}, false, true},
		{"bad upstream URL", upstream.Settings{Upstream: &upstream.Config{URL: "nope", AppKey: "k", AppSecret: "s"}}, identity.Result{}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := &registryStub{res: tc.registry}
			r, err := upstream.Open(reg, tc.s)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Open: %v", err)
			}
			if err != nil {
				return
			}
			res, err := r.Lookup(context.Background(), query("r"))
			if err != nil {
				t.Fatal(err)
			}
			if asked := res.Upstream.TraceID != ""; asked != tc.wantUpstream {
				t.Errorf("upstream asked: %v, want %v", asked, tc.wantUpstream)
			}
		})
	}
}

func TestRouteUpstreamFailureKeepsItsBill(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want identity.UpstreamCall // the upstream call for the ledger
	}{
		{"our account refused", `{"trace_id":"TIDa","code":"1000","msg":"验签失败","charge":2}`, identity.UpstreamCall{TraceID: "TIDa"}},
		{"charged but malformed", `{"trace_id":"TIDb","code":"0000","data":{"result":1,"id_name":1,"photo":1,"score":150},"charge":1}`, identity.UpstreamCall{TraceID: "TIDb", Charged: true}},
		{"no envelope", `<html>502</html>`, identity.UpstreamCall{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, tc.body) }))
			t.Cleanup(srv.Close)
			r, _ := upstream.Route(nil, newClient(t, srv.URL, nil), upstream.ModeUpstream)
			res, err := r.Lookup(context.Background(), query("r"))
			if !errors.Is(err, identity.ErrUnavailable) {
				t.Fatalf("err %v, want identity.ErrUnavailable", err)
			}
			if res.Upstream != tc.want {
				t.Errorf("upstream call %+v, want %+v", res.Upstream, tc.want)
			}
		})
	}
}

package app_test

import (
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/upstream"
)

// TestRoutedToUpstream runs instance A answering from instance B through
// the routing app.Open wires: B's verdict and score come back through A,
// B's ledger row carries A's trace_id as its request_id and A's row B's
// trace_id and charge, and the per-ID daily limit refuses past its count.
func TestRoutedToUpstream(t *testing.T) {
	p := startRoutedPair(t, upstream.ModeUpstream, 2)
	b, a, aAtB, aSrv := p.b, p.a, p.aAtB, p.aSrv
	shop, _ := a.Merchants.Create(ctx, merchant.NewSettings("shop"))

	r := post(t, aSrv, shop.Merchant.AppKey, shop.Secret, "r1", idMatch, "张三", []byte("selfie"))
	if r.Code != "0000" || r.Charge != 1 || string(r.Data) != `{"result":1,"id_name":1,"photo":1,"score":91.23}` {
		t.Errorf("routed match: %+v %s", r, r.Data)
	}
	bRows, _ := b.Store.ListLedger(ctx, store.LedgerFilter{AppKey: aAtB.Merchant.AppKey})
	if len(bRows) != 1 || bRows[0].RequestID != strings.TrimPrefix(r.TraceID, "TID") {
		t.Errorf("B's ledger %+v: want one row whose request_id is A's trace_id %s", bRows, r.TraceID)
	}
	aRows, _ := a.Store.ListLedger(ctx, store.LedgerFilter{AppKey: shop.Merchant.AppKey})
	if len(aRows) != 1 || len(bRows) != 1 || aRows[0].UpstreamTraceID != bRows[0].TraceID || !aRows[0].UpstreamCharged {
		t.Errorf("A's ledger %+v: want one row holding B's trace_id and charge (B's rows %+v)", aRows, bRows)
	}
	if r := post(t, aSrv, shop.Merchant.AppKey, shop.Secret, "r2", idMatch, "李四", []byte("selfie")); string(r.Data) != `{"result":1,"id_name":2}` {
		t.Errorf("routed name mismatch: %+v %s", r, r.Data)
	}
	if r := post(t, aSrv, shop.Merchant.AppKey, shop.Secret, "r3", idMatch, "张三", []byte("selfie")); r.Code != "1006" || r.Charge != 2 {
		t.Errorf("third call on one ID with a daily limit of 2: %+v", r)
	}
}

// TestPerMerchantRoute runs A with B as its upstream but the registry as its
// default route: a merchant set to the upstream is answered by B, the others
// by A's own (empty) registry.
func TestPerMerchantRoute(t *testing.T) {
	p := startRoutedPair(t, upstream.ModeRegistry, 0)
	a, aSrv := p.a, p.aSrv
	for _, tc := range []struct {
		route    string
		wantData string
	}{
		{"", `{"result":1,"id_name":2}`}, // A's registry does not know the ID number
		{string(upstream.ModeRegistry), `{"result":1,"id_name":2}`},
		{string(upstream.ModeUpstream), `{"result":1,"id_name":1,"photo":1,"score":91.23}`},
		{string(upstream.ModeRegistryFirst), `{"result":1,"id_name":1,"photo":1,"score":91.23}`}, // the gap is filled by B
	} {
		set := merchant.NewSettings("shop " + tc.route)
		set.Route = tc.route
		shop, err := a.Merchants.Create(ctx, set)
		if err != nil {
			t.Fatal(err)
		}
		r := post(t, aSrv, shop.Merchant.AppKey, shop.Secret, "r1", idMatch, "张三", []byte("selfie"))
		if r.Code != "0000" || string(r.Data) != tc.wantData {
			t.Errorf("route %q: %+v %s; want %s", tc.route, r, r.Data, tc.wantData)
		}
	}
}

// routedPair is instance A routed to instance B, both on stub faces, as
// app.Open wires Config.Routing; B's registry holds idMatch as 张三.
type routedPair struct {
	a, b *app.App
	aAtB merchant.Created // A's account at B
	aSrv *httptest.Server // A's API
}

func startRoutedPair(t *testing.T, mode upstream.Mode, idDailyLimit int64) routedPair {
	t.Helper()
	b, err := app.OpenWith(ctx, app.Config{DB: filepath.Join(t.TempDir(), "b.db"),
		Notices: io.Discard, Logger: discardLogger()}, app.Seams{Faces: stubFaces{}, Enroller: stubFaces{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := b.Registry.Add(ctx, idMatch, "张三", []byte("photo")); err != nil {
		t.Fatal(err)
	}
	aAtB, err := b.Merchants.Create(ctx, merchant.NewSettings("instance A"))
	if err != nil {
		t.Fatal(err)
	}
	bSrv := httptest.NewServer(b.Handler())
	t.Cleanup(bSrv.Close)
	a, err := app.OpenWith(ctx, app.Config{DB: filepath.Join(t.TempDir(), "a.db"),
		Notices: io.Discard, Logger: discardLogger(), Routing: &upstream.Settings{
			Upstream: &upstream.Config{URL: bSrv.URL, AppKey: aAtB.Merchant.AppKey, AppSecret: aAtB.Secret},
			Mode:     mode,
		}, IDDailyLimit: idDailyLimit}, app.Seams{Faces: stubFaces{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	aSrv := httptest.NewServer(a.Handler())
	t.Cleanup(aSrv.Close)
	return routedPair{a: a, b: b, aAtB: aAtB, aSrv: aSrv}
}

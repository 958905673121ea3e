package upstream_test

// Two real portrait instances on loopback: B holds a registry, A serves its
// merchant from B, routed by app.Open from Config.Routing as in production.
// Both run the real store, ledger, merchant policy, face pipeline and HTTP
// layer.

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/cluster/faultproxy"
	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/models"
	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/upstream"
)

const facesDir = "/work/shared/faces-dev/"

// Registry of B: one person with a usable photo, one without a photo, one
// whose photo shows no face.
const (
	idPhoto   = "110105198001010016"
	idNoPhoto = "110105198001010024"
	idNoFace  = "110105198001010032"
	idUnknown = "44030419900307123X"
	name      = "张三"
)

var (
	registered = facesDir + "lfw_Aaron_Peirsol/0001.jpg"
	samePerson = facesDir + "lfw_Aaron_Peirsol/0002.jpg"
	otherOne   = facesDir + "lfw_Adam_Sandler/0001.jpg"
)

// pipeline is loaded once and shared by every instance of the test: it is
// safe for concurrent use and loading it is the slow part.
var pipeline struct {
	once sync.Once
	p    *face.Pipeline
	err  error
}

func facePipeline(t *testing.T) *face.Pipeline {
	t.Helper()
	if err := models.Check(models.DefaultDir()); err != nil {
		t.Skipf("models not fetched (%v): run `%s`", err, models.FetchCommand)
	}
	for _, f := range []string{registered, samePerson, otherOne} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("face set: %v", err)
		}
	}
	pipeline.once.Do(func() { pipeline.p, pipeline.err = app.OpenFaces("", "") })
	if pipeline.err != nil {
		t.Fatal(pipeline.err)
	}
	return pipeline.p
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// blankJPEG decodes fine and holds no face.
func blankJPEG(t *testing.T) []byte {
	img := image.NewGray(image.Rect(0, 0, 320, 400))
	for i := range img.Pix {
		img.Pix[i] = 180
	}
	img.Set(0, 0, color.Gray{Y: 10})
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// openInstance opens a real instance on the face pipeline, with a fresh
// SQLite file of that name and routing (nil: none); it closes with the test.
func openInstance(t *testing.T, file string, routing *upstream.Settings, idDailyLimit int64) *app.App {
	t.Helper()
	p := facePipeline(t)
	a, err := app.OpenWith(context.Background(), app.Config{
		DB: filepath.Join(t.TempDir(), file), Notices: io.Discard, Logger: quiet(),
		Routing: routing, IDDailyLimit: idDailyLimit,
	}, app.Seams{Faces: app.PipelineFaces{Pipeline: p}, Enroller: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// instanceB is the upstream: a real instance with a registry, and A's
// account at it.
type instanceB struct {
	app       *app.App
	srv       *httptest.Server
	appKey    string // A's account at B
	appSecret string
	calls     atomic.Int64 // requests that reached B's handler
}

func startB(t *testing.T) *instanceB {
	t.Helper()
	ctx := context.Background()
	a := openInstance(t, "b.db", nil, 0)
	for _, rec := range []struct {
		id    string
		photo []byte
	}{{idPhoto, read(t, registered)}, {idNoPhoto, nil}, {idNoFace, blankJPEG(t)}} {
		if _, err := a.Registry.Add(ctx, rec.id, name, rec.photo); err != nil {
			t.Fatalf("B registry add %s: %v", rec.id, err)
		}
	}
	set := merchant.NewSettings("instance A")
	set.QPS, set.Burst = 1000, 1000
	acct, err := a.Merchants.Create(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	b := &instanceB{app: a, appKey: acct.Merchant.AppKey, appSecret: acct.Secret}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.calls.Add(1)
		a.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// instanceA serves its own merchant from B, routed as `portrait serve`
// routes: app.Open with Config.Routing.
type instanceA struct {
	app    *app.App
	shop   *client.Client
	appKey string
}

func startA(t *testing.T, cfg upstream.Config, idDailyLimit int64) *instanceA {
	t.Helper()
	ctx := context.Background()
	a := openInstance(t, "a.db", &upstream.Settings{Upstream: &cfg, Mode: upstream.ModeUpstream}, idDailyLimit)
	acct, err := a.Merchants.Create(ctx, merchant.NewSettings("shop"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return &instanceA{app: a, appKey: acct.Merchant.AppKey, shop: client.New(srv.URL, acct.Merchant.AppKey, acct.Secret)}
}

func configFor(b *instanceB) upstream.Config {
	return upstream.Config{URL: b.srv.URL, AppKey: b.appKey, AppSecret: b.appSecret}
}

func (a *instanceA) verify(t *testing.T, id, nm string, selfie []byte) *client.Response {
	t.Helper()
	res, err := a.shop.Verify(context.Background(), client.Request{IDNumber: id, Name: nm, Selfie: selfie})
	if err != nil {
		t.Fatalf("call A: %v", err)
	}
	return res
}

// row returns A's ledger row of the call that answered res.
func (a *instanceA) row(t *testing.T, res *client.Response) store.LedgerRow {
	t.Helper()
	rows, err := a.app.Store.ListLedger(context.Background(), store.LedgerFilter{AppKey: a.appKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.TraceID == res.TraceID {
			return r
		}
	}
	t.Fatalf("A's ledger has no row %s", res.TraceID)
	return store.LedgerRow{}
}

func TestTwoInstancesDataShapes(t *testing.T) {
	b := startB(t)
	a := startA(t, configFor(b), 0)
	selfie, other := read(t, samePerson), read(t, otherOne)
	scores := map[string]float64{}

	for _, tc := range []struct {
		name     string
		id, nm   string
		selfie   []byte
		want     string // data as A answers it, score aside
		charge   int
		upstream bool // B was asked
	}{
		{"same person", idPhoto, name, selfie, `"result":1,"id_name":1,"photo":1,"score":`, 1, true},
		{"different person", idPhoto, name, other, `"result":1,"id_name":1,"photo":1,"score":`, 1, true},
		{"name mismatch", idPhoto, "李四", selfie, `{"result":1,"id_name":2}`, 1, true},
		{"unknown ID number", idUnknown, name, selfie, `{"result":1,"id_name":2}`, 1, true},
		{"no photo on record", idNoPhoto, name, selfie, `{"result":1,"id_name":1,"photo":2}`, 1, true},
		{"no face in the photo on record", idNoFace, name, selfie, `{"result":1,"id_name":1,"photo":3}`, 1, true},
		{"selfie fails A's own gate: B not paid", idPhoto, name, blankJPEG(t), `{"result":2,"reason":"no_face"}`, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := b.calls.Load()
			res := a.verify(t, tc.id, tc.nm, tc.selfie)
			if res.Code != client.CodeOK || res.Charge != tc.charge || !strings.Contains(string(res.Raw), tc.want) {
				t.Errorf("A answered %s; want data with %s, charge %d", res.Raw, tc.want, tc.charge)
			}
			if res.Data != nil {
				scores[tc.name] = res.Data.Score
			}
			if asked := b.calls.Load() > before; asked != tc.upstream {
				t.Errorf("B asked: %v, want %v", asked, tc.upstream)
			}
			// B bills A as A bills its merchant; reconcile checks the
			// rest against B's own row.
			if r := a.row(t, res); (r.UpstreamTraceID != "") != tc.upstream || r.UpstreamCharged != (tc.upstream && tc.charge == 1) {
				t.Errorf("A's row names upstream call %q charged %v; want one: %v, charged as A's merchant", r.UpstreamTraceID, r.UpstreamCharged, tc.upstream)
			}
		})
	}
	// The scores are B's (reconcile compares them row by row); the
	// bands are the face model's business, but its order is not.
	if !(scores["same person"] > scores["different person"]) {
		t.Errorf("scores %v: the same person does not score above a different one", scores)
	}
	reconcile(t, a, b)
}

// reconcile checks both ledgers, as an operator holding B's bill would: every
// row of A's that names a call to B is one row at B under A's account, whose
// trace_id and charge are what A's row recorded and whose request_id is A's
// trace_id; A charges its merchant for exactly the answers B charged A for,
// with B's data; and every row at B sent by this A is named by A.
func reconcile(t *testing.T, a *instanceA, b *instanceB) {
	t.Helper()
	ctx := context.Background()
	rowsA, err := a.app.Store.ListLedger(ctx, store.LedgerFilter{AppKey: a.appKey})
	if err != nil {
		t.Fatal(err)
	}
	rowsB, err := b.app.Store.ListLedger(ctx, store.LedgerFilter{AppKey: b.appKey})
	if err != nil {
		t.Fatal(err)
	}
	byTraceB := map[string]store.LedgerRow{}
	for _, r := range rowsB {
		byTraceB[r.TraceID] = r
	}
	named := map[string]bool{} // A's trace_ids whose row names a call to B
	for _, ra := range rowsA {
		if ra.UpstreamTraceID == "" {
			continue
		}
		named[strings.TrimPrefix(ra.TraceID, "TID")] = true
		rb, ok := byTraceB[ra.UpstreamTraceID]
		if !ok {
			t.Errorf("A's row %+v names a call B did not record", ra)
			continue
		}
		if rb.RequestID != strings.TrimPrefix(ra.TraceID, "TID") || rb.Charged != ra.UpstreamCharged {
			t.Errorf("B's row %+v does not match A's %+v (request_id, charge)", rb, ra)
		}
		if rb.Code != string(client.CodeOK) {
			if ra.Code != string(client.CodeSupplier) || ra.Charged || rb.Charged {
				t.Errorf("B answered %s (row %+v), A recorded %+v; want 2000 and nothing charged", rb.Code, rb, ra)
			}
			continue
		}
		if ra.Charged != rb.Charged || ra.Result != rb.Result || ra.IDName != rb.IDName || ra.Photo != rb.Photo || ra.Score != rb.Score {
			t.Errorf("A's row %+v and B's row %+v disagree", ra, rb)
		}
	}
	if len(named) == 0 {
		t.Fatal("A's ledger names no call to B")
	}
	sentByA := map[string]bool{}
	for _, ra := range rowsA {
		sentByA[strings.TrimPrefix(ra.TraceID, "TID")] = true
	}
	for _, rb := range rowsB {
		if sentByA[rb.RequestID] && !named[rb.RequestID] {
			t.Errorf("B's row %+v is not named by A's row of that call", rb)
		}
	}
}

// front stands between A and B so that a test can make B misbehave.
type front struct {
	mode atomic.Value // "pass", "slow", "garbage"
	next http.Handler
	// done releases slow answers when the test ends: the server does not
	// always see A hang up, and closing it waits for its handlers.
	done chan struct{}
}

func newFront(t *testing.T, b *instanceB) (*front, *httptest.Server) {
	f := &front{next: b.srv.Config.Handler, done: make(chan struct{})}
	f.mode.Store("pass")
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(f.done) }) // before srv.Close: cleanups run last first
	return f, srv
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch f.mode.Load() {
	case "slow":
		select {
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
			return
		case <-f.done:
			return
		}
	case "garbage":
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		return
	}
	f.next.ServeHTTP(w, r)
}

func TestTwoInstancesUpstreamFailures(t *testing.T) {
	b := startB(t)
	selfie := read(t, samePerson)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downURL := "http://" + closed.Addr().String()
	closed.Close()

	for _, tc := range []struct {
		name   string
		edit   func(*upstream.Config, *front)
		within time.Duration // A answers no later than this: its own probe (slow under -race) and the upstream's budget
		// B answered with an envelope (A's row names B's trace_id), and
		// recorded the call in its ledger (B records calls of known
		// merchants only).
		answered, recorded bool
	}{
		{"B down", func(c *upstream.Config, _ *front) { c.URL = downURL }, 2500 * time.Millisecond, false, false},
		{"B slow", func(c *upstream.Config, f *front) { f.mode.Store("slow"); c.ReadTimeout = 300 * time.Millisecond }, 2500 * time.Millisecond, false, false},
		{"B answering garbage", func(_ *upstream.Config, f *front) { f.mode.Store("garbage") }, 2500 * time.Millisecond, false, false},
		{"B refusing A's signature (1000)", func(c *upstream.Config, _ *front) { c.AppSecret = "not-the-secret" }, 2500 * time.Millisecond, true, true},
		{"B not knowing A's app_key (1009)", func(c *upstream.Config, _ *front) { c.AppKey = "pk_unknown" }, 2500 * time.Millisecond, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, fsrv := newFront(t, b)
			cfg := configFor(b)
			cfg.URL = fsrv.URL
			tc.edit(&cfg, f)
			a := startA(t, cfg, 0)
			start := time.Now()
			res := a.verify(t, idPhoto, name, selfie)
			took := time.Since(start)
			if res.Code != client.CodeSupplier || res.Msg != client.CodeSupplier.Message() || res.Data != nil || res.Charged() {
				t.Errorf("A answered %s; want 2000 %s, no data, uncharged, no detail", res.Raw, client.CodeSupplier.Message())
			}
			if took > tc.within {
				t.Errorf("A answered after %v, want within %v", took, tc.within)
			}
			rows, err := a.app.Store.ListLedger(context.Background(), store.LedgerFilter{AppKey: a.appKey})
			if err != nil || len(rows) != 1 || rows[0].Code != string(client.CodeSupplier) || rows[0].Charged {
				t.Fatalf("A's ledger %+v, %v: want one uncharged 2000 row", rows, err)
			}
			if (rows[0].UpstreamTraceID != "") != tc.answered || rows[0].UpstreamCharged {
				t.Errorf("A's row names upstream call %q charged %v; want one: %v, uncharged", rows[0].UpstreamTraceID, rows[0].UpstreamCharged, tc.answered)
			}
			if tc.recorded {
				reconcile(t, a, b)
			}
		})
	}
}

// An upstream that accepts connections and then says nothing (a hung
// process, a black-holed network) costs A its read timeout, not its
// merchant's deadline: 2000, uncharged, and A answers from it again once it
// speaks.
func TestTwoInstancesUpstreamStalled(t *testing.T) {
	b := startB(t)
	stall, err := faultproxy.Start(strings.TrimPrefix(b.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stall.Close)
	cfg := configFor(b)
	cfg.URL, cfg.ReadTimeout = "http://"+stall.Addr(), 500*time.Millisecond
	a := startA(t, cfg, 0)
	selfie := read(t, samePerson)
	stall.Stall()
	start := time.Now()
	if res := a.verify(t, idNoPhoto, name, selfie); res.Code != client.CodeSupplier || res.Charged() || time.Since(start) > 2500*time.Millisecond {
		t.Errorf("A with B stalled answered %s after %v; want 2000 uncharged within 2.5 s", res.Raw, time.Since(start))
	}
	stall.Resume()
	// B's own probe of the selfie may take longer than the 500 ms read
	// timeout on a loaded machine: recovery is an answer within seconds.
	until := time.Now().Add(10 * time.Second)
	for res := a.verify(t, idNoPhoto, name, selfie); res.Code != client.CodeOK; res = a.verify(t, idNoPhoto, name, selfie) {
		if time.Now().After(until) {
			t.Fatalf("A 10 s after B speaks again: %s", res.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestTwoInstancesBreaker(t *testing.T) {
	b := startB(t)
	f, fsrv := newFront(t, b)
	cfg := configFor(b)
	cfg.URL = fsrv.URL
	cfg.BreakerFailures = 2
	cfg.BreakerCooldown = 3 * time.Second // covers a call under -race
	a := startA(t, cfg, 0)
	// Answers without a score, so that these tests depend on the
	// upstream's plumbing only, not on the face model's calibration.
	selfie := read(t, samePerson)

	f.mode.Store("garbage")
	for range 2 {
		if res := a.verify(t, idNoPhoto, name, selfie); res.Code != client.CodeSupplier {
			t.Fatalf("B failing: %s", res.Raw)
		}
	}
	opened := time.Now()
	f.mode.Store("pass") // B is back, but A does not know yet
	before := b.calls.Load()
	if res := a.verify(t, idNoPhoto, name, selfie); res.Code != client.CodeSupplier {
		t.Fatalf("open breaker: %s", res.Raw)
	}
	if b.calls.Load() != before {
		t.Fatal("open breaker let a call through to B")
	}
	time.Sleep(time.Until(opened.Add(cfg.BreakerCooldown)))
	if res := a.verify(t, idNoPhoto, name, selfie); !res.OK() || res.Data.Photo != client.PhotoMissing {
		t.Fatalf("probe after cooldown: %s", res.Raw)
	}
	// Closed again: calls flow to B without waiting for a probe.
	before = b.calls.Load()
	if res := a.verify(t, idNoPhoto, name, selfie); !res.OK() || b.calls.Load() != before+1 {
		t.Fatalf("after a successful probe: %s, %d calls reached B", res.Raw, b.calls.Load()-before)
	}
	reconcile(t, a, b)
}

func TestTwoInstancesIDDailyLimit(t *testing.T) {
	b := startB(t)
	a := startA(t, configFor(b), 2)
	// Answers without a score, so that these tests depend on the
	// upstream's plumbing only, not on the face model's calibration.
	selfie := read(t, samePerson)
	for range 2 {
		if res := a.verify(t, idNoPhoto, name, selfie); res.Code != client.CodeOK {
			t.Fatalf("within the limit: %s", res.Raw)
		}
	}
	before := b.calls.Load()
	res := a.verify(t, idNoPhoto, name, selfie)
	if res.Code != client.CodeRateLimited || res.Charged() {
		t.Errorf("over the per-ID limit: %s, want 1006 uncharged", res.Raw)
	}
	if b.calls.Load() != before {
		t.Error("a call over the per-ID limit reached B")
	}
	if res := a.verify(t, idUnknown, name, selfie); res.Code != client.CodeOK {
		t.Errorf("another ID number: %s", res.Raw)
	}
}

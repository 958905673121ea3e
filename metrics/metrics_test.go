package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portrait-id/portrait/api"
	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/store/sqlite"
	"github.com/portrait-id/portrait/store/storetest"
	"github.com/portrait-id/portrait/verify"
)

// scrape returns the metrics text as a client of /metrics reads it.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics answered %d", rec.Code)
	}
	return rec.Body.String()
}

// value is the sample of the series named exactly (name and labels as
// exposed), or -1 when absent.
func value(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}

// answers is a verify.Verifier answering the outcomes it holds in turn.
type answers struct {
	outs []verify.Outcome
	i    int
}

func (a *answers) Verify(context.Context, verify.Request) verify.Outcome {
	o := a.outs[a.i%len(a.outs)]
	a.i++
	return o
}

func TestObserverCountsWhatClientsReceive(t *testing.T) {
	m := New()
	found := func(score float64) verify.Data { return verify.Data{Result: 1, IDName: 1, Photo: 1, Score: score} }
	outs := []verify.Outcome{
		{Merchant: "ak_a", Charged: true, Data: found(87.5)},
		{Merchant: "ak_a", Charged: true, Data: found(42)},
		{Merchant: "ak_a", Charged: true, Data: verify.Data{Result: 1, IDName: 2}},
		{Merchant: "ak_b", Data: verify.Data{Result: 2, Reason: "blur"}},
		{Merchant: "ak_b", Data: verify.Data{Result: 2, Reason: "new_reason_of_an_upstream"}},
		{Merchant: "ak_b", Err: merchant.ErrRateLimited},
		{Merchant: "ak_b", Err: merchant.ErrQuotaExhausted},
		{Merchant: "ak_b", Err: merchant.ErrQuotaExhausted},
		{Err: merchant.ErrUnknownAppKey}, // a stranger's app_key is no label
		{Merchant: "ak_a", Err: errors.New("disk full")},
	}
	h := api.NewHandler(&answers{outs: outs}, api.Options{Logger: slog.New(slog.DiscardHandler), Observer: m})
	for range outs {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", api.Path, strings.NewReader(string(client.FormBody(client.Params{
			AppKey: "ak", RequestID: "r", IDNumber: "110101199003077512", Name: "张三", Timestamp: "1",
			Sign: "0123456789abcdef0123456789abcdef", Selfie: []byte("x"),
		})))))
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", api.Path, nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/elsewhere", nil))
	text := scrape(t, m)
	for _, c := range []struct {
		series string
		want   float64
	}{
		{`portrait_calls_total{charge="1",code="0000"}`, 3},
		{`portrait_calls_total{charge="2",code="0000"}`, 2},
		{`portrait_calls_total{charge="2",code="1006"}`, 1},
		{`portrait_calls_total{charge="2",code="1007"}`, 2},
		{`portrait_calls_total{charge="2",code="1009"}`, 1},
		{`portrait_calls_total{charge="2",code="1002"}`, 1}, // GET on the API's path
		{`portrait_calls_total{charge="2",code="9999"}`, 1},
		{`portrait_rejections_total{reason="rate_limit"}`, 1},
		{`portrait_rejections_total{reason="quota"}`, 2},
		{`portrait_call_duration_seconds_count{code="0000"}`, 5},
		{`portrait_merchant_calls_total{app_key="ak_a"}`, 4},
		{`portrait_merchant_charged_calls_total{app_key="ak_a"}`, 3},
		{`portrait_merchant_calls_total{app_key="ak_b"}`, 5},
		{`portrait_merchant_charged_calls_total{app_key="ak_b"}`, -1},
		{`portrait_score_count`, 2},
		{`portrait_score_bucket{le="45"}`, 1},
		{`portrait_quality_failures_total{reason="blur"}`, 1},
		{`portrait_quality_failures_total{reason="other"}`, 1},
		{`portrait_quality_failures_total{reason="pose"}`, 0},
	} {
		if got := value(text, c.series); got != c.want {
			t.Errorf("%s = %v, want %v", c.series, got, c.want)
		}
	}
	if n := strings.Count(text, "portrait_merchant_calls_total{"); n != 2 {
		t.Errorf("%d merchant series, want 2 (ak_a, ak_b):\n%s", n, grep(text, "portrait_merchant_calls_total"))
	}
}

type tracer struct {
	tr  face.Trace
	err error
}

func (f tracer) ProbeTrace(context.Context, []byte) (face.Template, *face.Analysis, face.Trace, error) {
	return face.Template{Model: "m"}, nil, f.tr, f.err
}

func (tracer) Score(face.Template, face.Template) (float64, error) { return 50, nil }

func TestFacesRecordStagesThatRan(t *testing.T) {
	m := New()
	full := m.Faces(tracer{tr: face.Trace{Decode: time.Millisecond, Detect: 2 * time.Millisecond,
		Landmarks: time.Millisecond, Quality: time.Microsecond, Embed: 5 * time.Millisecond}})
	if tpl, err := full.Probe(context.Background(), nil); err != nil || tpl.Model != "m" {
		t.Fatalf("Probe = %v, %v; want the pipeline's template", tpl, err)
	}
	undecodable := m.Faces(tracer{tr: face.Trace{Decode: time.Millisecond}, err: face.ErrImage})
	if _, err := undecodable.Probe(context.Background(), nil); !errors.Is(err, face.ErrImage) {
		t.Fatalf("Probe error %v, want the pipeline's", err)
	}
	text := scrape(t, m)
	for _, c := range []struct {
		series string
		want   float64
	}{
		{`portrait_stage_duration_seconds_count{stage="decode"}`, 2},
		{`portrait_stage_duration_seconds_count{stage="detect"}`, 1},
		{`portrait_stage_duration_seconds_count{stage="embed"}`, 1},
		{`portrait_stage_duration_seconds_count{stage="lookup"}`, 0},
		{`portrait_model_inference_seconds_count{model="detector"}`, 1},
		{`portrait_model_inference_seconds_count{model="embedder"}`, 1},
		{`portrait_model_inference_seconds_sum{model="embedder"}`, 0.005},
	} {
		if got := value(text, c.series); got != c.want {
			t.Errorf("%s = %v, want %v", c.series, got, c.want)
		}
	}
}

type source struct{ err error }

func (s source) Lookup(context.Context, identity.Query) (identity.Result, error) {
	time.Sleep(time.Millisecond)
	return identity.Result{Found: true}, s.err
}

func TestSourceRecordsLookups(t *testing.T) {
	m := New()
	for _, err := range []error{nil, identity.ErrUnavailable} {
		if _, got := m.Source(source{err}).Lookup(context.Background(), identity.Query{IDNumber: "id", Name: "name"}); got != err {
			t.Errorf("Lookup error %v, want %v", got, err)
		}
	}
	text := scrape(t, m)
	if got := value(text, `portrait_stage_duration_seconds_count{stage="lookup"}`); got != 2 {
		t.Errorf("lookup count %v, want 2", got)
	}
	if got := value(text, `portrait_stage_duration_seconds_sum{stage="lookup"}`); got < 0.002 {
		t.Errorf("lookup time %v, want at least 2 ms", got)
	}
}

func TestObserveStageBoundsLabels(t *testing.T) {
	m := New()
	m.ObserveStage(StageAuth, time.Millisecond)
	m.ObserveStage("user-controlled?", time.Millisecond)
	text := scrape(t, m)
	if value(text, `portrait_stage_duration_seconds_count{stage="auth"}`) != 1 ||
		value(text, `portrait_stage_duration_seconds_count{stage="other"}`) != 1 {
		t.Errorf("stages:\n%s", grep(text, "portrait_stage_duration_seconds_count"))
	}
}

func grep(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// failingStore answers GetMerchant with the error it is given; the other
// methods are not called.
type failingStore struct {
	store.Store
	err error
}

func (f failingStore) GetMerchant(context.Context, string) (store.Merchant, error) {
	return store.Merchant{}, f.err
}

func TestStoreCountsOnlyStorageFailures(t *testing.T) {
	m := New()
	for _, err := range []error{
		nil,
		fmt.Errorf("merchant x: %w", store.ErrNotFound),
		fmt.Errorf("ctx: %w", context.Canceled),
		errors.New("connection refused"),
		fmt.Errorf("get: %w", context.DeadlineExceeded),
	} {
		if _, got := m.Store(failingStore{err: err}).GetMerchant(context.Background(), "x"); got != err {
			t.Errorf("GetMerchant error %v, want %v", got, err)
		}
	}
	text := scrape(t, m)
	if got := value(text, `portrait_storage_errors_total{op="get_merchant"}`); got != 2 {
		t.Errorf("storage errors %v, want 2 (refused connection and deadline)", got)
	}
	if got := value(text, `portrait_storage_duration_seconds_count{op="get_merchant"}`); got != 5 {
		t.Errorf("storage operations %v, want 5", got)
	}
}

func TestRedisFallbacksAndRuntime(t *testing.T) {
	m := New()
	m.RedisFallback("limit", errors.New("dial tcp 10.0.0.1:6379: connection refused"))
	text := scrape(t, m)
	if got := value(text, `portrait_redis_fallbacks_total{op="limit"}`); got != 1 {
		t.Errorf("fallbacks %v, want 1", got)
	}
	if strings.Contains(text, "10.0.0.1") {
		t.Error("an error's text became part of the metrics")
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if value(text, name) < 0 {
			t.Errorf("%s is not exposed", name)
		}
	}
}

func TestHealthAndReady(t *testing.T) {
	rec := httptest.NewRecorder()
	Health().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("/healthz answered %d", rec.Code)
	}
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("dial postgres://admin:pw@db: refused") }
	hung := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	cases := []struct {
		name   string
		checks []Check
		want   int
		body   string
		logged int
	}{
		{"all ready", []Check{{"storage", ok, false}, {"redis", ok, true}}, 200, `{"ready":true,"status":"ok","checks":{"redis":"ok","storage":"ok"}}`, 0},
		{"one down", []Check{{"storage", down, false}, {"models", ok, false}}, 503, `{"ready":false,"status":"failing","checks":{"models":"ok","storage":"failing"}}`, 1},
		// Redis down: the fallbacks answer, the instance stays in service.
		{"redis down", []Check{{"storage", ok, false}, {"redis", down, true}}, 200, `{"ready":true,"status":"degraded","checks":{"redis":"degraded","storage":"ok"}}`, 1},
		{"redis and storage down", []Check{{"storage", down, false}, {"redis", down, true}}, 503, `{"ready":false,"status":"failing","checks":{"redis":"degraded","storage":"failing"}}`, 2},
		{"none", nil, 200, `{"ready":true,"status":"ok","checks":{}}`, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			logged := 0
			m := New()
			rec := httptest.NewRecorder()
			Ready(func(string, error) { logged++ }, m.Degraded, c.checks...).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if rec.Code != c.want || strings.TrimSpace(rec.Body.String()) != c.body || logged != c.logged {
				t.Errorf("got %d %s (%d logged), want %d %s (%d logged)", rec.Code, rec.Body.String(), logged, c.want, c.body, c.logged)
			}
			want := 0.0
			if strings.Contains(c.body, `"redis":"degraded"`) {
				want = 1
			}
			if got := value(scrape(t, m), "portrait_degraded"); got != want {
				t.Errorf("portrait_degraded %v, want %v", got, want)
			}
		})
	}
	t.Run("hung check times out", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		rec := httptest.NewRecorder()
		start := time.Now()
		Ready(nil, nil, Check{"storage", hung, false}).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil).WithContext(ctx))
		if rec.Code != 503 || time.Since(start) > time.Second {
			t.Errorf("hung check: %d after %v", rec.Code, time.Since(start))
		}
	})
}

// TestStoreDecoratorConforms runs the storage suite through the decorator
// over the embedded backend: observing must not change a single answer.
func TestStoreDecoratorConforms(t *testing.T) {
	m := New()
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
		if err != nil {
			t.Fatal(err)
		}
		return m.Store(db)
	})
	if value(scrape(t, m), `portrait_storage_duration_seconds_count{op="append_ledger"}`) <= 0 {
		t.Error("the suite's ledger appends were not observed")
	}
}

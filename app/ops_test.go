package app_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/idcard"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/metrics"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestOpsHandlerWithMetrics(t *testing.T) {
	a, err := app.OpenWith(ctx, app.Config{DB: filepath.Join(t.TempDir(), "p.db"),
		Notices: io.Discard, Logger: discardLogger(), Metrics: metrics.New()}, app.Seams{Faces: stubFaces{}, Enroller: stubFaces{}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	m, _ := a.Merchants.Create(ctx, merchant.NewSettings("shop"))
	a.Registry.Add(ctx, idMatch, "张三", []byte("photo"))
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	if r := post(t, srv, m.Merchant.AppKey, m.Secret, "r1", idMatch, "张三", []byte("selfie")); r.Code != "0000" {
		t.Fatalf("call: %+v", r)
	}
	ops := a.OpsHandler()
	if code, body := get(t, ops, "/healthz"); code != 200 {
		t.Errorf("healthz %d %s", code, body)
	}
	if code, body := get(t, ops, "/readyz"); code != 200 || !strings.Contains(body, "storage") {
		t.Errorf("readyz %d %s", code, body)
	}
	code, body := get(t, ops, "/metrics")
	for _, want := range []string{`portrait_calls_total{charge="1",code="0000"} 1`, `portrait_storage_duration_seconds_count{op="append_ledger"}`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics %d lacks %s", code, want)
		}
	}
	if code, _ := get(t, a.Handler(), "/metrics"); code == 200 {
		t.Error("metrics served on the merchants' API")
	}
}

// TestRedisSharesRateLimits runs two instances on one database and one Redis
// (PORTRAIT_TEST_REDIS, a throwaway server): a merchant's burst is spent
// across both, not per instance.
func TestRedisSharesRateLimits(t *testing.T) {
	set := merchant.NewSettings("shared")
	set.QPS, set.Burst = 0.001, 2
	_, s1, s2, m := twoInstancesOnRedis(t, testRedis(t), 0, set)
	var codes []string
	for i, srv := range []*httptest.Server{s1, s2, s1, s2} {
		r := post(t, srv, m.Merchant.AppKey, m.Secret, "r"+string(rune('a'+i)), "110101199003071234", "张三", []byte("s"))
		codes = append(codes, r.Code)
	}
	// 1002: past the policy (bad check digit); 1006: the shared bucket is empty.
	if strings.Join(codes, ",") != "1002,1002,1006,1006" {
		t.Errorf("codes %v, want two calls through the shared burst of 2, then 1006 on both instances", codes)
	}
}

// testRedis is the throwaway Redis of PORTRAIT_TEST_REDIS, or a skip.
func testRedis(t *testing.T) string {
	t.Helper()
	url := os.Getenv("PORTRAIT_TEST_REDIS")
	if url == "" {
		t.Skip("PORTRAIT_TEST_REDIS is not set (a redis:// URL of a throwaway server; .ci/run sets it)")
	}
	return url
}

// openOnRedis opens one of several instances sharing the SQLite file db and
// the Redis at url, on stub faces; it closes with the test.
// twoInstancesOnRedis opens two instances on one new database and the Redis
// at url, creates a merchant with set on the first and serves both.
func twoInstancesOnRedis(t *testing.T, url string, idDailyLimit int64, set merchant.Settings) (first *app.App, s1, s2 *httptest.Server, m merchant.Created) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "p.db")
	a1, a2 := openOnRedis(t, db, url, idDailyLimit), openOnRedis(t, db, url, idDailyLimit)
	m, err := a1.Merchants.Create(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 = httptest.NewServer(a1.Handler()), httptest.NewServer(a2.Handler())
	t.Cleanup(s1.Close)
	t.Cleanup(s2.Close)
	return a1, s1, s2, m
}

func openOnRedis(t *testing.T, db, url string, idDailyLimit int64) *app.App {
	t.Helper()
	a, err := app.OpenWith(ctx, app.Config{DB: db,
		Notices: io.Discard, Logger: discardLogger(), Redis: url, IDDailyLimit: idDailyLimit}, app.Seams{Faces: stubFaces{}, Enroller: stubFaces{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// TestRedisSharesIDDailyLimit runs two instances on one database and one
// Redis with a per-ID-number daily limit of 2: the third call of the day is
// refused wherever it lands.
func TestRedisSharesIDDailyLimit(t *testing.T) {
	url := testRedis(t)
	// Counts live for 48 h in a server that outlives the test: a fresh ID
	// number per run starts at zero.
	id := freshIDNumber(t)
	set := merchant.NewSettings("shop")
	set.QPS, set.Burst = 1000, 1000
	a1, s1, s2, m := twoInstancesOnRedis(t, url, 2, set)
	if _, err := a1.Registry.Add(ctx, id, "张三", []byte("photo")); err != nil {
		t.Fatal(err)
	}
	var codes []string
	for i, srv := range []*httptest.Server{s1, s2, s1} {
		codes = append(codes, post(t, srv, m.Merchant.AppKey, m.Secret, "r"+string(rune('a'+i)), id, "张三", []byte("s")).Code)
	}
	if strings.Join(codes, ",") != "0000,0000,1006" {
		t.Errorf("codes %v, want two calls of the ID number, then 1006 on the other instance", codes)
	}
}

// freshIDNumber returns a valid, random ID number.
func freshIDNumber(t *testing.T) string {
	t.Helper()
	body := fmt.Sprintf("110105%04d01%02d%03d", 1950+rand.IntN(50), 1+rand.IntN(28), rand.IntN(1000))
	for _, check := range "0123456789X" {
		if id, err := idcard.ValidateID(body+string(check), time.Now()); err == nil {
			return id
		}
	}
	t.Fatalf("no check digit makes %s valid", body)
	return ""
}

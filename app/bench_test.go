package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/sign"
	"github.com/portrait-id/portrait/store"
)

// BenchmarkProtocolPath measures calls that stop before the face pipeline
// (a well-signed call with an invalid ID number: parse, authenticate,
// policy, ledger row) through the real handler over loopback HTTP, with
// concurrent keep-alive clients; it reports calls/s and latency quantiles.
func BenchmarkProtocolPath(b *testing.B) {
	a, err := app.OpenWith(ctx, app.Config{DB: filepath.Join(b.TempDir(), "p.db"),
		Notices: io.Discard, Logger: discardLogger()}, app.Seams{Faces: stubFaces{}, Enroller: stubFaces{}})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	set := merchant.NewSettings("bench")
	set.QPS, set.Burst = 1e9, 1e9
	m, err := a.Merchants.Create(ctx, set)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	const id, name = "110101199003071234", "张三" // bad check digit: 1002 after the policy
	var seq atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(16)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			rid := "r" + strconv.FormatInt(seq.Add(1), 10)
			ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
			form := url.Values{"app_key": {m.Merchant.AppKey}, "request_id": {rid}, "id_number": {id}, "name": {name},
				"timestamp": {ts}, "sign": {sign.Compute(m.Merchant.AppKey, id, name, rid, ts, m.Secret)}, "selfie_base64": {"aGVsbG8="}}
			t0 := time.Now()
			resp, err := client.Post(srv.URL+"/api/identity/portrait_verification", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
			if err != nil {
				b.Error(err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mine = append(mine, time.Since(t0))
			if !strings.Contains(string(body), `"code":"1002"`) {
				b.Errorf("unexpected answer %s", body)
				return
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "calls/s")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
	rows, err := a.Store.ListLedger(ctx, store.LedgerFilter{AppKey: m.Merchant.AppKey})
	if err != nil || len(rows) != len(lat) {
		b.Errorf("%d ledger rows for %d calls (%v)", len(rows), len(lat), err)
	}
}

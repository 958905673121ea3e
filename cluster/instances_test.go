package cluster

import (
	"fmt"
	"sync"
	"testing"

	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/store"
)

// spread sends calls concurrently, call i to instance i mod n, and returns
// the answers in order; a call without an answer fails the test.
func spread(t *testing.T, clients []*client.Client, reqs []client.Request) []*client.Response {
	t.Helper()
	out := make([]*client.Response, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := clients[i%len(clients)].Verify(ctx, req)
			if err != nil {
				t.Errorf("call %d: %v", i, err)
				return
			}
			out[i] = r
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out
}

func codes(rs []*client.Response) map[string]int {
	h := map[string]int{}
	for _, r := range rs {
		h[fmt.Sprintf("%s/%d", r.Code, r.Charge)]++
	}
	return h
}

// TestQuotaExactAcrossInstances spends a free quota of N with many more
// concurrent calls spread over two instances: exactly N are charged, the
// rest answer 1007, and the ledger agrees with what the clients received.
func TestQuotaExactAcrossInstances(t *testing.T) {
	c := newCluster(t, 2, options{})
	const quota, calls = 4, 24
	key, clients := c.merchant(t, func(s *merchant.Settings) { s.FreeQuota, s.QPS, s.Burst = quota, 1000, 1000 })
	img := selfie(t)
	reqs := make([]client.Request, calls)
	for i := range reqs {
		reqs[i] = client.Request{IDNumber: idNumber, Name: name, Selfie: img}
	}
	answers := spread(t, clients, reqs)
	h := codes(answers)
	if h["0000/1"] != quota || h["1007/2"] != calls-quota {
		t.Errorf("answers %v; want %d × 0000/1 and %d × 1007/2", h, quota, calls-quota)
	}

	a := c.instances[1].app
	m, err := a.Store.GetMerchant(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if m.QuotaUsed != quota {
		t.Errorf("QuotaUsed %d, want %d", m.QuotaUsed, quota)
	}
	rows, err := a.Store.ListLedger(ctx, store.LedgerFilter{AppKey: m.AppKey})
	if err != nil {
		t.Fatal(err)
	}
	charged := map[string]bool{}
	for _, r := range rows {
		if r.Charged {
			charged[r.TraceID] = true
		}
	}
	for _, r := range answers {
		if r.Charged() && !charged[r.TraceID] {
			t.Errorf("charged answer %s has no charged ledger row", r.TraceID)
		}
		delete(charged, r.TraceID)
	}
	if len(charged) != 0 {
		t.Errorf("charged ledger rows no client was told of: %v", charged)
	}
}

// TestRetryOnTheOtherInstance sends a request_id again to the other
// instance, after the first call and while it runs: every copy gets the
// first call's answer and only one is charged.
func TestRetryOnTheOtherInstance(t *testing.T) {
	c := newCluster(t, 2, options{})
	key, clients := c.merchant(t, nil)
	img := selfie(t)
	req := client.Request{RequestID: "retry-after", IDNumber: idNumber, Name: name, Selfie: img}
	first, err := clients[0].Verify(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if first.Code != client.CodeOK || !first.Charged() {
		t.Fatalf("first call: %s", first.Raw)
	}
	again, err := clients[1].Verify(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Raw) != string(first.Raw) {
		t.Errorf("retry on the other instance:\n got %s\nwant %s", again.Raw, first.Raw)
	}

	// Copies arriving together on both instances: one runs, the others
	// wait for it through the shared claim.
	req.RequestID = "retry-during"
	copies := spread(t, clients, []client.Request{req, req, req, req})
	for _, r := range copies[1:] {
		if string(r.Raw) != string(copies[0].Raw) {
			t.Errorf("concurrent copies answered differently:\n%s\n%s", r.Raw, copies[0].Raw)
		}
	}
	rows, err := c.instances[0].app.Store.ListLedger(ctx, store.LedgerFilter{AppKey: key})
	if err != nil {
		t.Fatal(err)
	}
	perRequest := map[string]int{}
	for _, r := range rows {
		if r.Charged {
			perRequest[r.RequestID]++
		}
	}
	if perRequest["retry-after"] != 1 || perRequest["retry-during"] != 1 {
		t.Errorf("charged rows per request_id %v, want one each", perRequest)
	}
}

// TestRateLimitIsGlobal sends more calls than a merchant's burst over two
// instances: the burst is shared, not granted per instance.
func TestRateLimitIsGlobal(t *testing.T) {
	c := newCluster(t, 2, options{})
	const burst, calls = 3, 20
	_, clients := c.merchant(t, func(s *merchant.Settings) { s.QPS, s.Burst = 0.01, burst })
	// Not an image: admitted calls end at the decoder (1002) without
	// spending the machine's cores on faces.
	reqs := make([]client.Request, calls)
	for i := range reqs {
		reqs[i] = client.Request{IDNumber: idNumber, Name: name, Selfie: []byte("not an image")}
	}
	h := codes(spread(t, clients, reqs))
	if h["1002/2"] != burst || h["1006/2"] != calls-burst {
		t.Errorf("answers %v; want %d × 1002/2 (admitted) and %d × 1006/2", h, burst, calls-burst)
	}
	var rejected float64
	for _, in := range c.instances {
		rejected += scrapeValue(t, in, `portrait_rejections_total{reason="rate_limit"}`)
	}
	if rejected != calls-burst {
		t.Errorf("rate-limit rejections in /metrics: %v, want %d", rejected, calls-burst)
	}
}

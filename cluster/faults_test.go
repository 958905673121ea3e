package cluster

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/store"
)

// timedCall is one call and how long its answer took.
func timedCall(t *testing.T, c *client.Client, req client.Request) (*client.Response, time.Duration) {
	t.Helper()
	start := time.Now()
	r, err := c.Verify(ctx, req)
	if err != nil {
		t.Fatalf("no answer after %v: %v", time.Since(start), err)
	}
	return r, time.Since(start)
}

// servingMerchant creates a merchant on c and checks that every instance
// answers its verification with a charged 0000 before the fault (named by
// before) is brought on.
func servingMerchant(t *testing.T, c *cluster, before string) (key string, clients []*client.Client, req client.Request) {
	t.Helper()
	key, clients = c.merchant(t, nil)
	req = client.Request{IDNumber: idNumber, Name: name, Selfie: selfie(t)}
	for i, cl := range clients {
		if r, _ := timedCall(t, cl, req); r.Code != client.CodeOK || !r.Charged() {
			t.Fatalf("instance %d before %s: %s", i, before, r.Raw)
		}
	}
	return key, clients, req
}

// TestDatabaseOutage cuts PostgreSQL mid-traffic: calls answer 9999,
// uncharged, quickly, and once the database is back both instances serve
// again by themselves.
func TestDatabaseOutage(t *testing.T) {
	c := newCluster(t, 2, options{})
	key, clients, req := servingMerchant(t, c, "the outage")

	c.db.Down()
	for i := range 6 {
		r, d := timedCall(t, clients[i%2], req)
		if r.Code != client.CodeOther || r.Charged() {
			t.Errorf("call %d with the database down: %s", i, r.Raw)
		}
		if d > 5*time.Second {
			t.Errorf("call %d with the database down took %v", i, d)
		}
	}

	if err := c.db.Up(); err != nil {
		t.Fatal(err)
	}
	awaitRecovery(t, clients, req)
	if charged := chargedRows(t, c, key); charged != 4 {
		t.Errorf("%d charged ledger rows, want 4 (two calls before the outage, two after)", charged)
	}
	var storageErrors float64
	for _, in := range c.instances {
		storageErrors += scrapeValue(t, in, `portrait_calls_total{charge="2",code="9999"}`)
	}
	if storageErrors < 6 {
		t.Errorf("/metrics counts %v uncharged 9999 answers, want at least 6", storageErrors)
	}
}

// awaitRecovery calls each instance until it answers 0000 charged (within
// 15 s of the database coming back) and returns how many calls were charged.
func awaitRecovery(t *testing.T, clients []*client.Client, req client.Request) int {
	t.Helper()
	for i, cl := range clients {
		until := time.Now().Add(15 * time.Second)
		for {
			r, _ := timedCall(t, cl, req)
			if r.Code == client.CodeOK && r.Charged() {
				break
			}
			if time.Now().After(until) {
				t.Fatalf("instance %d has not recovered 15 s after the database came back: %s", i, r.Raw)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return len(clients)
}

// chargedRows counts the merchant's charged ledger rows.
func chargedRows(t *testing.T, c *cluster, key string) int {
	t.Helper()
	rows, err := c.instances[0].app.Store.ListLedger(ctx, store.LedgerFilter{AppKey: key})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if r.Charged {
			n++
		}
	}
	return n
}

// TestRedisOutage cuts Redis mid-traffic: the instances fall back to their
// own limiter and claims, keep answering, count the fallbacks, and use
// Redis again once it is back.
func TestRedisOutage(t *testing.T) {
	c := newCluster(t, 2, options{})
	_, clients := c.merchant(t, nil)
	req := client.Request{IDNumber: idNumber, Name: name, Selfie: selfie(t)}
	c.redis.Down()
	for i := range 4 {
		if r, d := timedCall(t, clients[i%2], req); r.Code != client.CodeOK || !r.Charged() || d > 5*time.Second {
			t.Errorf("call %d with Redis down: %s after %v", i, r.Raw, d)
		}
	}
	// A call's sign check meets the outage first (authentication comes
	// before the claim and the token); the later steps then skip Redis.
	for i, in := range c.instances {
		if n := scrapeValue(t, in, `portrait_redis_fallbacks_total{op="sign"}`); n < 1 {
			t.Errorf("instance %d counted %v sign fallbacks, want at least one", i, n)
		}
	}
	if err := c.redis.Up(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past redisstate.DefaultRetryAfter
	before := scrapeValue(t, c.instances[0], `portrait_redis_fallbacks_total{op="sign"}`)
	if r, _ := timedCall(t, clients[0], req); r.Code != client.CodeOK {
		t.Errorf("call after Redis came back: %s", r.Raw)
	}
	if after := scrapeValue(t, c.instances[0], `portrait_redis_fallbacks_total{op="sign"}`); after != before {
		t.Errorf("fallbacks went from %v to %v with Redis back", before, after)
	}
}

// slowSource stands for an identity supplier that hangs or fails. Like the
// upstream client, it gives up when its context ends: the service's timeout
// reaches it through the context.
type slowSource struct {
	delay time.Duration
	err   error
}

func (s slowSource) Lookup(ctx context.Context, _ identity.Query) (identity.Result, error) {
	select {
	case <-time.After(s.delay):
		return identity.Result{}, s.err
	case <-ctx.Done():
		return identity.Result{}, ctx.Err()
	}
}

// TestIdentitySourceFaults: a source slower than the configured timeout, or
// failing, answers 2000 uncharged within the timeout.
func TestIdentitySourceFaults(t *testing.T) {
	const timeout = 400 * time.Millisecond
	cases := []struct {
		name   string
		source slowSource
	}{
		{"slow", slowSource{delay: 10 * time.Second}},
		{"failing", slowSource{err: errors.New("upstream: connection reset")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 1, options{source: tc.source, identityTimeout: timeout})
			_, clients := c.merchant(t, nil)
			req := client.Request{IDNumber: idNumber, Name: name, Selfie: selfie(t)}
			r, d := timedCall(t, clients[0], req)
			if r.Code != client.CodeSupplier || r.Charged() {
				t.Errorf("answer %s, want 2000 uncharged", r.Raw)
			}
			// The selfie's decode and embedding come before the lookup.
			if d > timeout+3*time.Second {
				t.Errorf("answered after %v with a lookup timeout of %v", d, timeout)
			}
		})
	}
}

// TestDatabaseStall holds every PostgreSQL connection open without a byte
// passing (a hung server, a black-holed network): calls answer 9999,
// uncharged, within their deadline instead of waiting forever, and once the
// database speaks again the instances serve and the ledger is exact.
func TestDatabaseStall(t *testing.T) {
	const deadline = 2 * time.Second
	c := newCluster(t, 2, options{callTimeout: deadline})
	key, clients, req := servingMerchant(t, c, "the stall")
	c.db.Stall()
	for i := range 4 {
		r, d := timedCall(t, clients[i%2], req)
		if r.Code != client.CodeOther || r.Charged() || d > deadline+time.Second {
			t.Errorf("call %d with the database stalled: %s after %v, want 9999 uncharged within the %v deadline", i, r.Raw, d, deadline)
		}
	}
	c.db.Resume()
	recovered := awaitRecovery(t, clients, req)
	charged := chargedRows(t, c, key)
	// Every charged answer a client saw has its row, and no other row is
	// charged: the stalled calls' rows were given up, never half-written.
	if charged != 2+recovered {
		t.Errorf("%d charged ledger rows, want %d (two before the stall, %d after)", charged, 2+recovered, recovered)
	}
}

// TestRedisStall holds every Redis connection without an answer: the
// instances fall back within their Redis budget and keep answering 0000,
// and /readyz says degraded, not unready, so a load balancer keeps them.
func TestRedisStall(t *testing.T) {
	c := newCluster(t, 2, options{callTimeout: 3 * time.Second})
	_, clients := c.merchant(t, nil)
	req := client.Request{IDNumber: idNumber, Name: name, Selfie: selfie(t)}
	c.redis.Stall()
	for i := range 4 {
		if r, d := timedCall(t, clients[i%2], req); r.Code != client.CodeOK || !r.Charged() || d > 3*time.Second {
			t.Errorf("call %d with Redis stalled: %s after %v", i, r.Raw, d)
		}
	}
	rec := httptest.NewRecorder()
	c.instances[0].app.OpsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"status":"degraded"`) || !strings.Contains(rec.Body.String(), `"redis":"degraded"`) {
		t.Errorf("/readyz with Redis stalled: %d %s; want 200 and degraded", rec.Code, rec.Body.String())
	}
	if v := scrapeValue(t, c.instances[0], "portrait_degraded"); v != 1 {
		t.Errorf("portrait_degraded %v with Redis stalled, want 1", v)
	}
	c.redis.Resume()
	time.Sleep(1500 * time.Millisecond) // past redisstate.DefaultRetryAfter
	if r, _ := timedCall(t, clients[0], req); r.Code != client.CodeOK {
		t.Errorf("call after Redis answers again: %s", r.Raw)
	}
	rec = httptest.NewRecorder()
	c.instances[0].app.OpsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"status":"ok"`) {
		t.Errorf("/readyz with Redis back: %d %s", rec.Code, rec.Body.String())
	}
}

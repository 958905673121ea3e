package upstream_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portrait-id/portrait/protocol"

	"github.com/portrait-id/portrait/api"
	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/sign"
	"github.com/portrait-id/portrait/upstream"
	"github.com/portrait-id/portrait/verify"
)

const (
	testKey    = "pk_upstream_test"
	testSecret = "s3cret-at-the-upstream"
	testID     = "11010519491231002X"
	testName   = "张三"
)

var testSelfie = []byte("\xff\xd8\xff\xe0 not really a jpeg, the fake upstream does not decode it")

// fakeUpstream serves the document's protocol through the real api handler,
// checking what we send, and answers what its test sets.
type fakeUpstream struct {
	t      *testing.T
	mu     sync.Mutex
	answer func(verify.Request) verify.Outcome
	calls  atomic.Int64
	seen   []verify.Request
}

func (f *fakeUpstream) Verify(_ context.Context, req verify.Request) verify.Outcome {
	f.calls.Add(1)
	f.mu.Lock()
	f.seen = append(f.seen, req)
	answer := f.answer
	f.mu.Unlock()
	want := sign.Compute(req.AppKey, req.IDNumber, req.Name, req.RequestID, req.Timestamp, testSecret)
	if req.AppKey != testKey || !sign.Equal(want, req.Sign) {
		return verify.Outcome{TraceID: req.TraceID, Err: sign.ErrSignature}
	}
	out := answer(req)
	out.TraceID = req.TraceID
	return out
}

func (f *fakeUpstream) set(answer func(verify.Request) verify.Outcome) {
	f.mu.Lock()
	f.answer = answer
	f.mu.Unlock()
}

func answering(d verify.Data, err error) func(verify.Request) verify.Outcome {
	return func(verify.Request) verify.Outcome {
		return verify.Outcome{Data: d, Err: err, Charged: err == nil && d.Result == protocol.ResultFound}
	}
}

func newFake(t *testing.T, answer func(verify.Request) verify.Outcome) (*fakeUpstream, *httptest.Server) {
	f := &fakeUpstream{t: t, answer: answer}
	srv := httptest.NewServer(api.NewHandler(f, api.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	return f, srv
}

func newClient(t *testing.T, url string, edit func(*upstream.Config)) *upstream.Client {
	t.Helper()
	cfg := upstream.Config{URL: url, AppKey: testKey, AppSecret: testSecret, ConnectTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond}
	if edit != nil {
		edit(&cfg)
	}
	c, err := upstream.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// query is a lookup of our call with trace_id "TID" + reqID, which the
// upstream must receive as request_id reqID.
func query(reqID string) identity.Query {
	return identity.Query{TraceID: "TID" + reqID, IDNumber: testID, Name: testName, Selfie: testSelfie}
}

// routed is q in the merchant's route m.
func routed(q identity.Query, m upstream.Mode) identity.Query {
	q.Route = string(m)
	return q
}

func TestVerifyDataShapes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    verify.Data
		charged bool
	}{
		{"mismatch", verify.Data{Result: 1, IDName: 2}, true},
		{"no photo", verify.Data{Result: 1, IDName: 1, Photo: 2}, true},
		{"no usable face in photo", verify.Data{Result: 1, IDName: 1, Photo: 3}, true},
		{"same person", verify.Data{Result: 1, IDName: 1, Photo: 1, Score: 87.25}, true},
		{"different person", verify.Data{Result: 1, IDName: 1, Photo: 1, Score: 12.5}, true},
		{"score zero", verify.Data{Result: 1, IDName: 1, Photo: 1, Score: 0}, true},
		{"upstream quality gate", verify.Data{Result: 2, Reason: "blur"}, false},
		{"upstream quality gate, no reason", verify.Data{Result: 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFake(t, answering(tc.data, nil))
			reqID := "req-" + strings.NewReplacer(" ", "_", ",", "").Replace(tc.name)
			ans, err := newClient(t, srv.URL, nil).Verify(context.Background(), query(reqID))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if ans.Data != tc.data || ans.Charged != tc.charged || len(ans.TraceID) != 35 {
				t.Errorf("answer %+v, want data %+v charged %v and the upstream's trace_id", ans, tc.data, tc.charged)
			}
			got := f.seen[0]
			if got.TraceID != ans.TraceID || got.RequestID != reqID || got.IDNumber != testID || got.Name != testName || string(got.Selfie) != string(testSelfie) {
				t.Errorf("upstream saw %+v", got)
			}
		})
	}
}

func TestVerifyFailures(t *testing.T) {
	garbage := func(body string, status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	for _, tc := range []struct {
		name      string
		outcome   func(verify.Request) verify.Outcome // through the real handler
		raw       http.HandlerFunc                    // or a raw answer
		code      client.Code                         // the upstream's code kept for the operator
		unhealthy bool                                // counts against the breaker
		billed    bool                                // the upstream's charge, kept for the ledger
	}{
		{name: "our signature refused", outcome: answering(verify.Data{}, protocol.Wrap(protocol.CodeSignature, "", sign.ErrSignature)), code: "1000", unhealthy: true},
		{name: "our app_key unknown", outcome: answering(verify.Data{}, merchant.ErrUnknownAppKey), code: "1009", unhealthy: true},
		{name: "our account frozen", outcome: answering(verify.Data{}, merchant.ErrFrozen), code: "1003", unhealthy: true},
		{name: "our rate at the upstream", outcome: answering(verify.Data{}, merchant.ErrRateLimited), code: "1006", unhealthy: true},
		{name: "our quota at the upstream", outcome: answering(verify.Data{}, merchant.ErrQuotaExhausted), code: "1007", unhealthy: true},
		{name: "its stricter parameter rules", outcome: answering(verify.Data{}, verify.ErrRequestIDReused), code: "1002"},
		{name: "its supplier failed", outcome: answering(verify.Data{}, identity.ErrUnavailable), code: "2000", unhealthy: true},
		{name: "its internal error", outcome: answering(verify.Data{}, errors.New("boom")), code: "9999", unhealthy: true},
		{name: "html", raw: garbage("<html>502 Bad Gateway</html>", 502), unhealthy: true},
		{name: "empty body", raw: garbage("", 200), unhealthy: true},
		{name: "json without code", raw: garbage(`{"trace_id":"x"}`, 200), unhealthy: true},
		{name: "0000 without data", raw: garbage(`{"trace_id":"TIDx","code":"0000","msg":"ok","charge":1}`, 200), code: "0000", unhealthy: true, billed: true},
		{name: "id_name out of range", raw: garbage(`{"trace_id":"TIDx","code":"0000","data":{"result":1,"id_name":7},"charge":1}`, 200), code: "0000", unhealthy: true, billed: true},
		{name: "photo missing", raw: garbage(`{"trace_id":"TIDx","code":"0000","data":{"result":1,"id_name":1},"charge":1}`, 200), code: "0000", unhealthy: true, billed: true},
		{name: "score over 100", raw: garbage(`{"trace_id":"TIDx","code":"0000","data":{"result":1,"id_name":1,"photo":1,"score":150},"charge":1}`, 200), code: "0000", unhealthy: true, billed: true},
		{name: "result 3", raw: garbage(`{"trace_id":"TIDx","code":"0000","data":{"result":3},"charge":2}`, 200), code: "0000", unhealthy: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var url string
			if tc.raw != nil {
				srv := httptest.NewServer(tc.raw)
				t.Cleanup(srv.Close)
				url = srv.URL
			} else {
				_, srv := newFake(t, tc.outcome)
				url = srv.URL
			}
			c := newClient(t, url, func(c *upstream.Config) { c.BreakerFailures = 1 })
			_, err := c.Verify(context.Background(), query("r1"))
			if !errors.Is(err, identity.ErrUnavailable) {
				t.Fatalf("err %v, want identity.ErrUnavailable", err)
			}
			var f *upstream.Failure
			if !errors.As(err, &f) || f.Code != tc.code {
				t.Errorf("failure %#v, want the upstream's code %q kept", f, tc.code)
			}
			if tc.code != "" && tc.code != "0000" && f.TraceID == "" {
				t.Errorf("failure %v lost the upstream's trace_id", err)
			}
			if f != nil && f.Charged != tc.billed {
				t.Errorf("failure's charge %v, want the upstream's %v", f.Charged, tc.billed)
			}
			if open := c.BreakerState() == upstream.StateOpen; open != tc.unhealthy {
				t.Errorf("breaker %s after one such failure with threshold 1, want open=%v", c.BreakerState(), tc.unhealthy)
			}
		})
	}
}

func TestVerifyReadTimeoutIsNotRetried(t *testing.T) {
	release := make(chan struct{})
	f, srv := newFake(t, func(verify.Request) verify.Outcome {
		<-release
		return verify.Outcome{Data: verify.Data{Result: 1, IDName: 2}, Charged: true}
	})
	defer close(release) // before srv.Close, which waits for the handler
	c := newClient(t, srv.URL, func(c *upstream.Config) { c.ReadTimeout = 150 * time.Millisecond; c.Retries = 3 })
	start := time.Now()
	_, err := c.Verify(context.Background(), query("slow"))
	if !errors.Is(err, identity.ErrUnavailable) {
		t.Fatalf("err %v, want identity.ErrUnavailable", err)
	}
	if took := time.Since(start); took > 700*time.Millisecond {
		t.Errorf("gave up after %v, want about the read timeout", took)
	}
	// The request may have been billed upstream: a retry would need the
	// time the merchant no longer has, so there is none.
	if n := f.calls.Load(); n != 1 {
		t.Errorf("upstream got %d calls, want 1", n)
	}
}

// flakyDialer fails its first n dials as a refused connection would.
type flakyDialer struct {
	fail  atomic.Int64
	dials atomic.Int64
}

func (d *flakyDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.dials.Add(1)
	if d.fail.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
	}
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

func TestVerifyRetriesConnectFailuresOnly(t *testing.T) {
	for _, tc := range []struct {
		name          string
		failDials     int64
		retries       int
		wantOK        bool
		wantDials     int64
		wantUpstreams int64
	}{
		{"first connect refused, retried", 1, 1, true, 2, 1},
		{"every connect refused, bounded", 5, 2, false, 3, 0},
		{"no retries configured", 1, -1, false, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFake(t, answering(verify.Data{Result: 1, IDName: 2}, nil))
			d := &flakyDialer{}
			d.fail.Store(tc.failDials)
			c := newClient(t, srv.URL, func(c *upstream.Config) {
				c.Retries = tc.retries
				c.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
			})
			_, err := c.Verify(context.Background(), query("r"))
			if (err == nil) != tc.wantOK {
				t.Fatalf("err %v, want ok=%v", err, tc.wantOK)
			}
			if err != nil && !errors.Is(err, identity.ErrUnavailable) {
				t.Errorf("err %v, want identity.ErrUnavailable", err)
			}
			if d.dials.Load() != tc.wantDials || f.calls.Load() != tc.wantUpstreams {
				t.Errorf("%d dials and %d upstream calls, want %d and %d", d.dials.Load(), f.calls.Load(), tc.wantDials, tc.wantUpstreams)
			}
		})
	}
}

func TestVerifyConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := newClient(t, "http://"+addr, nil)
	_, err = c.Verify(context.Background(), query("r"))
	var op *net.OpError
	if !errors.Is(err, identity.ErrUnavailable) || !errors.As(err, &op) || op.Op != "dial" {
		t.Errorf("err %v, want identity.ErrUnavailable from a refused connect", err)
	}
}

func TestVerifyConnectionDroppedAfterSendIsNotRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int64
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			// Read the request, then hang up without answering: the
			// upstream may have acted on it.
			conn.Read(make([]byte, 4096))
			conn.Close()
		}
	}()
	c := newClient(t, "http://"+l.Addr().String(), func(c *upstream.Config) { c.Retries = 3 })
	_, err = c.Verify(context.Background(), query("r"))
	if !errors.Is(err, identity.ErrUnavailable) {
		t.Fatalf("err %v, want identity.ErrUnavailable", err)
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d connections, want 1: a request that was sent is not retried", n)
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestBreakerOpensAndCloses(t *testing.T) {
	failing := answering(verify.Data{}, errors.New("upstream down"))
	f, srv := newFake(t, failing)
	clk := &clock{t: time.Now()}
	c := newClient(t, srv.URL, func(c *upstream.Config) {
		c.BreakerFailures = 3
		c.BreakerCooldown = 10 * time.Second
		c.Now = clk.Now
	})
	call := func() error { _, err := c.Verify(context.Background(), query(client.NewRequestID())); return err }

	for range 3 {
		if err := call(); errors.Is(err, upstream.ErrBreakerOpen) {
			t.Fatalf("breaker open before 3 failures: %v", err)
		}
	}
	if c.BreakerState() != upstream.StateOpen {
		t.Fatalf("breaker %s after 3 consecutive failures", c.BreakerState())
	}
	if err := call(); !errors.Is(err, upstream.ErrBreakerOpen) || !errors.Is(err, identity.ErrUnavailable) {
		t.Fatalf("err %v while open, want upstream.ErrBreakerOpen and identity.ErrUnavailable", err)
	}
	if n := f.calls.Load(); n != 3 {
		t.Fatalf("open breaker let a call through: %d upstream calls", n)
	}

	// A failed probe opens it for another cooldown.
	clk.Add(10 * time.Second)
	if c.BreakerState() != upstream.StateHalfOpen {
		t.Fatalf("breaker %s after the cooldown, want half-open", c.BreakerState())
	}
	if err := call(); errors.Is(err, upstream.ErrBreakerOpen) {
		t.Fatalf("half-open breaker refused the probe: %v", err)
	}
	if err := call(); !errors.Is(err, upstream.ErrBreakerOpen) || f.calls.Load() != 4 {
		t.Fatalf("after a failed probe: err %v, %d upstream calls; want open and 4", err, f.calls.Load())
	}

	// A successful probe closes it.
	f.set(answering(verify.Data{Result: 1, IDName: 2}, nil))
	clk.Add(10 * time.Second)
	if err := call(); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if c.BreakerState() != upstream.StateClosed {
		t.Fatalf("breaker %s after a successful probe", c.BreakerState())
	}
	if err := call(); err != nil {
		t.Fatalf("closed breaker: %v", err)
	}
}

func TestConcurrencyCap(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	_, srv := newFake(t, func(verify.Request) verify.Outcome {
		entered <- struct{}{}
		<-release
		return verify.Outcome{Data: verify.Data{Result: 1, IDName: 2}, Charged: true}
	})
	c := newClient(t, srv.URL, func(c *upstream.Config) {
		c.MaxConcurrent = 2
		c.QueueWait = 30 * time.Millisecond
		c.ReadTimeout = 2 * time.Second
	})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i := range 2 {
		wg.Go(func() {
			_, err := c.Verify(context.Background(), query(string(rune('a'+i))))
			errs <- err
		})
	}
	<-entered
	<-entered
	start := time.Now()
	_, err := c.Verify(context.Background(), query("third"))
	if !errors.Is(err, upstream.ErrBusy) || !errors.Is(err, identity.ErrUnavailable) {
		t.Errorf("third call: %v, want upstream.ErrBusy and identity.ErrUnavailable", err)
	}
	if took := time.Since(start); took > 300*time.Millisecond {
		t.Errorf("third call waited %v, want about QueueWait", took)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call within the cap: %v", err)
		}
	}
	if c.BreakerState() != upstream.StateClosed {
		t.Errorf("a busy refusal counted against the upstream: breaker %s", c.BreakerState())
	}
	if _, err := c.Verify(context.Background(), query("after")); err != nil {
		t.Errorf("slots not given back: %v", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []upstream.Config{
		{URL: "", AppKey: "k", AppSecret: "s"},
		{URL: "ftp://x", AppKey: "k", AppSecret: "s"},
		{URL: "http://", AppKey: "k", AppSecret: "s"},
		{URL: "http://x", AppKey: "", AppSecret: "s"},
		{URL: "http://x", AppKey: "k"},
	} {
		if _, err := upstream.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

package verify_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portrait-id/portrait/gate"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/protocol"
	"github.com/portrait-id/portrait/verify"
)

// A panic in a decider is answered 9999, uncharged, with its ledger row;
// the quota reservation and the request_id claim are released.
func TestPanicInDecider(t *testing.T) {
	e := newEnv(t, func(s *merchant.Settings) { s.FreeQuota = 1 })
	req := e.request(idMatch, "张三", "PANIC")
	out := e.svc.Verify(ctx, req)
	if code := protocol.CodeOf(out.Err); code != protocol.CodeOther || out.Charged || out.Merchant != e.key {
		t.Fatalf("panicking call answered %s (charged %v, merchant %q), want 9999 uncharged of %s", code, out.Charged, out.Merchant, e.key)
	}
	if row, n := e.rowOf(req.TraceID); n != 1 || row.Code != "9999" || row.Charged {
		t.Errorf("ledger holds %d rows for the panicking call (%+v), want one 9999 uncharged", n, row)
	}
	// The claim and the one unit of quota were released: a retry of the
	// same request_id runs again at once (neither waiting for a first call
	// that will never finish nor refused 1007 for a stuck reservation)...
	retry := req
	retry.TraceID = "TID-retry-after-panic"
	start := time.Now()
	if out := e.svc.Verify(ctx, retry); protocol.CodeOf(out.Err) != protocol.CodeOther || time.Since(start) > time.Second {
		t.Errorf("retry after the panic: %v after %s, want 9999 at once", out.Err, time.Since(start))
	}
	// ...and the quota is still there for a good call.
	next := e.svc.Verify(ctx, e.request(idMatch, "张三", "selfie"))
	if next.Err != nil || !next.Charged {
		t.Errorf("call after the panics: %v (charged %v), want 0000 charged", next.Err, next.Charged)
	}
}

// A stage that stalls is cut off by the call's deadline: the call answers
// within it, uncharged, and its row is recorded in the ledger's reserve.
func TestDeadlineReachesTheStages(t *testing.T) {
	e := newEnv(t, nil)
	e.configure(func(c *verify.Config) { c.CallTimeout, c.LedgerReserve = 400*time.Millisecond, 150*time.Millisecond })
	req := e.request(idMatch, "张三", "STALL")
	start := time.Now()
	out := e.svc.Verify(ctx, req)
	took := time.Since(start)
	if code := protocol.CodeOf(out.Err); code != protocol.CodeRateLimited || out.Charged || took > 400*time.Millisecond {
		t.Fatalf("stalled call answered %s (%v) after %s, want 1006 busy within the 400 ms deadline", code, out.Err, took)
	}
	if row, n := e.rowOf(req.TraceID); n != 1 || row.Code != "1006" || row.Charged {
		t.Errorf("ledger holds %d rows for the stalled call (%+v), want one 1006 uncharged", n, row)
	}
}

// Past the pipeline's slots, calls queue for the gate's wait and are then
// answered busy, uncharged, at once; they never pile up.
func TestPipelineGate(t *testing.T) {
	e := newEnv(t, nil)
	e.configure(func(c *verify.Config) { c.Pipeline = gate.New("pipeline", 1, 50*time.Millisecond, nil) })
	var wg sync.WaitGroup
	wg.Add(1)
	var first verify.Outcome
	go func() {
		defer wg.Done()
		first = e.svc.Verify(ctx, e.request(idMatch, "张三", "BLOCK"))
	}()
	for e.faces.probes.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	out := e.svc.Verify(ctx, e.request(idMatch, "张三", "selfie"))
	code, detail := protocol.Classify(out.Err)
	if code != protocol.CodeRateLimited || !strings.Contains(detail, "busy") || out.Charged || time.Since(start) > 500*time.Millisecond {
		t.Errorf("call with the pipeline full: %s %q after %s, want 1006 busy, uncharged, after the 50 ms wait", code, detail, time.Since(start))
	}
	close(e.faces.unblock)
	wg.Wait()
	if first.Err != nil || !first.Charged {
		t.Errorf("the call holding the slot: %v, want 0000 charged", first.Err)
	}
	if out := e.svc.Verify(ctx, e.request(idMatch, "张三", "selfie")); out.Err != nil {
		t.Errorf("call once the slot is free: %v", out.Err)
	}
}

// The per-ID-number daily limits run for every verification past the
// quality gate, whatever the source: per merchant, so that one merchant
// cannot lock a person out for the others, and a global ceiling above it.
func TestIDDailyLimits(t *testing.T) {
	e := newEnv(t, nil)
	e.configure(func(c *verify.Config) {
		c.IDLimits = &merchant.IDLimits{PerMerchant: 1, Global: 2, Counter: merchant.NewMemoryCounter()}
	})
	set := merchant.NewSettings("second")
	set.QPS, set.Burst = 1000, 1000
	other, err := e.merch.Create(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	as := func(key, secret string, r verify.Request) verify.Request {
		r.AppKey = key
		signAs(&r, secret)
		return r
	}
	var got []string
	for _, r := range []verify.Request{
		e.request(idMatch, "张三", "Q:blur"), // refused by the gate: not counted
		e.request(idMatch, "张三", "selfie"),
		e.request(idMatch, "张三", "selfie"),
		as(other.Merchant.AppKey, other.Secret, e.request(idMatch, "张三", "selfie")),
		as(other.Merchant.AppKey, other.Secret, e.request(idNoPhoto, "李四", "selfie")),
	} {
		out := e.svc.Verify(ctx, r)
		code, detail := protocol.Classify(out.Err)
		got = append(got, string(code)+" "+detail)
		if code != protocol.CodeOK {
			if row, n := e.rowOf(r.TraceID); n != 1 || row.Charged || out.Charged {
				t.Errorf("refused call: %d rows (%+v), charged %v", n, row, out.Charged)
			}
		}
	}
	want := "0000 |0000 |1006 id_number daily limit|0000 |0000 "
	if strings.Join(got, "|") != want {
		t.Errorf("codes %q, want %q", strings.Join(got, "|"), want)
	}
}

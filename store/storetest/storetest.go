// Package storetest is the conformance suite every store.Store backend must
// pass: a backend's own test calls Run with a function that opens a fresh,
// empty store.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portrait-id/portrait/store"
)

// Run runs the suite; open must return a new empty store, closed by the
// caller's cleanup or left to Run (Run closes it).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"MerchantCRUD", testMerchantCRUD},
		{"MerchantNotFound", testMerchantNotFound},
		{"MerchantDuplicate", testMerchantDuplicate},
		{"MerchantUpdateKeepsQuotaUsed", testMerchantUpdateKeepsQuotaUsed},
		{"MerchantUpdateConcurrent", testMerchantUpdateConcurrent},
		{"LedgerAppendAndList", testLedgerAppendAndList},
		{"LedgerIdempotentByTraceID", testLedgerIdempotent},
		{"LedgerQuotaExact", testLedgerQuotaExact},
		{"LedgerQuotaExactConcurrent", testLedgerQuotaConcurrent},
		{"LedgerUnlimitedQuota", testLedgerUnlimited},
		{"LedgerBatchRollsBackOnError", testLedgerBatchAtomic},
		{"LedgerFilters", testLedgerFilters},
		{"LedgerUsage", testLedgerUsage},
		{"LedgerFindAnswer", testLedgerFindAnswer},
		{"IdentityCRUD", testIdentityCRUD},
		{"IdentityList", testIdentityList},
		{"IdentityCountTemplates", testIdentityCountTemplates},
		{"IdentityUpdateTemplate", testIdentityUpdateTemplate},
		{"LedgerSearch", testLedgerSearch},
		{"LedgerDailyTotals", testLedgerDailyTotals},
		{"OperatorCRUD", testOperatorCRUD},
		{"OperatorSessions", testOperatorSessions},
		{"Audit", testAudit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

var ctx = context.Background()

// base is a fixed instant with whole microseconds, which every backend can
// store exactly.
var base = time.Date(2026, 3, 14, 23, 30, 0, 0, time.UTC)

func merchant(key string) store.Merchant {
	return store.Merchant{
		AppKey:       key,
		Name:         "Merchant " + key,
		SecretCipher: []byte{1, 2, 3, 0, 255},
		Status:       store.StatusActive,
		Services:     []string{"portrait_verification"},
		QPS:          10,
		Burst:        20,
		CreatedAt:    base,
		UpdatedAt:    base,
	}
}

func mustCreate(t *testing.T, s store.Store, m store.Merchant) {
	t.Helper()
	if err := s.CreateMerchant(ctx, m); err != nil {
		t.Fatalf("CreateMerchant(%s): %v", m.AppKey, err)
	}
}

func testMerchantCRUD(t *testing.T, s store.Store) {
	a := merchant("pk_a")
	a.ExpiresAt = base.Add(48 * time.Hour)
	a.FreeQuota = 7
	a.QuotaUsed = 99 // ignored at creation
	a.Route = "upstream"
	b := merchant("pk_b")
	b.Services = nil
	mustCreate(t, s, b)
	mustCreate(t, s, a)

	got, err := s.GetMerchant(ctx, "pk_a")
	if err != nil {
		t.Fatal(err)
	}
	want := a
	want.QuotaUsed = 0
	assertMerchant(t, got, want)

	list, err := s.ListMerchants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].AppKey != "pk_a" || list[1].AppKey != "pk_b" {
		t.Fatalf("ListMerchants = %v, want pk_a, pk_b in order", keys(list))
	}
	if len(list[1].Services) != 0 {
		t.Errorf("merchant without services lists %v", list[1].Services)
	}

	upd := want
	upd.Name = "Renamed 商户"
	upd.Status = store.StatusFrozen
	upd.ExpiresAt = time.Time{}
	upd.Services = []string{"other", "portrait_verification"}
	upd.QPS = 2.5
	upd.Burst = 3
	upd.FreeQuota = 0
	upd.Route = ""
	upd.SecretCipher = []byte("new cipher")
	upd.UpdatedAt = base.Add(time.Hour)
	written, err := s.UpdateMerchant(ctx, "pk_a", func(m *store.Merchant) error {
		appKey, used, created := m.AppKey, m.QuotaUsed, m.CreatedAt
		*m = upd
		m.AppKey, m.QuotaUsed, m.CreatedAt = appKey, used, created
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	assertMerchant(t, written, upd)
	got, err = s.GetMerchant(ctx, "pk_a")
	if err != nil {
		t.Fatal(err)
	}
	assertMerchant(t, got, upd)

	refused := errors.New("edit refused")
	if _, err := s.UpdateMerchant(ctx, "pk_a", func(m *store.Merchant) error { m.Name = "lost"; return refused }); err != refused {
		t.Errorf("UpdateMerchant with a failing edit = %v, want the edit's error", err)
	}
	if got, _ := s.GetMerchant(ctx, "pk_a"); got.Name != upd.Name {
		t.Errorf("a refused edit was written: name %q", got.Name)
	}

	if err := s.DeleteMerchant(ctx, "pk_a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMerchant(ctx, "pk_a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetMerchant after DeleteMerchant = %v, want ErrNotFound", err)
	}
}

// Concurrent edits of one merchant each see the others' writes: every one
// of them lands (issue 12: a freeze and a secret rotation at once undid each
// other).
func testMerchantUpdateConcurrent(t *testing.T, s store.Store) {
	m := merchant("pk_a")
	m.Burst = 0
	mustCreate(t, s, m)
	const writers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				_, err := s.UpdateMerchant(ctx, "pk_a", func(m *store.Merchant) error {
					m.Burst++
					m.SecretCipher = append(m.SecretCipher, byte('a'+w))
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, _ := s.GetMerchant(ctx, "pk_a")
	if got.Burst != writers*each || len(got.SecretCipher) != len(m.SecretCipher)+writers*each {
		t.Errorf("after %d concurrent edits: burst %d, cipher grew by %d", writers*each, got.Burst, len(got.SecretCipher)-len(m.SecretCipher))
	}
}

func assertMerchant(t *testing.T, got, want store.Merchant) {
	t.Helper()
	if got.AppKey != want.AppKey || got.Name != want.Name || !bytes.Equal(got.SecretCipher, want.SecretCipher) ||
		got.Status != want.Status || !got.ExpiresAt.Equal(want.ExpiresAt) || got.QPS != want.QPS ||
		got.Burst != want.Burst || got.FreeQuota != want.FreeQuota || got.QuotaUsed != want.QuotaUsed || got.Route != want.Route ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) ||
		!reflect.DeepEqual(nonNil(got.Services), nonNil(want.Services)) {
		t.Errorf("merchant:\n got %+v\nwant %+v", got, want)
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func keys(ms []store.Merchant) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.AppKey)
	}
	return out
}

func testMerchantNotFound(t *testing.T, s store.Store) {
	if _, err := s.GetMerchant(ctx, "pk_missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetMerchant(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateMerchant(ctx, "pk_missing", func(*store.Merchant) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateMerchant(missing) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteMerchant(ctx, "pk_missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteMerchant(missing) = %v, want ErrNotFound", err)
	}
	list, err := s.ListMerchants(ctx)
	if err != nil || len(list) != 0 {
		t.Errorf("ListMerchants on empty store = %v, %v", list, err)
	}
}

func testMerchantDuplicate(t *testing.T, s store.Store) {
	mustCreate(t, s, merchant("pk_a"))
	m := merchant("pk_a")
	m.Name = "other"
	if err := s.CreateMerchant(ctx, m); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second CreateMerchant = %v, want ErrExists", err)
	}
	got, _ := s.GetMerchant(ctx, "pk_a")
	if got.Name != "Merchant pk_a" {
		t.Errorf("duplicate create overwrote the name: %q", got.Name)
	}
}

func testMerchantUpdateKeepsQuotaUsed(t *testing.T, s store.Store) {
	m := merchant("pk_a")
	m.FreeQuota = 5
	mustCreate(t, s, m)
	appendOK(t, s, row("t1", "pk_a", true))
	if _, err := s.UpdateMerchant(ctx, "pk_a", func(m *store.Merchant) error {
		m.QuotaUsed = 0
		m.FreeQuota = 6
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetMerchant(ctx, "pk_a")
	if got.QuotaUsed != 1 || got.FreeQuota != 6 {
		t.Errorf("after update: used %d quota %d, want 1 and 6", got.QuotaUsed, got.FreeQuota)
	}
}

var seq atomic.Int64

func row(trace, appKey string, charged bool) store.LedgerRow {
	n := seq.Add(1)
	return store.LedgerRow{
		TraceID:   trace,
		AppKey:    appKey,
		RequestID: fmt.Sprintf("req-%d", n),
		Code:      "0000",
		Result:    1,
		IDName:    1,
		Photo:     1,
		Score:     87.25,
		Charged:   charged,
		Latency:   1234 * time.Microsecond,
		Time:      base.Add(time.Duration(n) * time.Millisecond),
		IDMasked:  "110101********1234",
	}
}

func appendOK(t *testing.T, s store.Store, rows ...store.LedgerRow) {
	t.Helper()
	errs, err := s.AppendLedger(ctx, rows)
	if err != nil {
		t.Fatalf("AppendLedger: %v", err)
	}
	if len(errs) != len(rows) {
		t.Fatalf("AppendLedger returned %d errors for %d rows", len(errs), len(rows))
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("AppendLedger row %d: %v", i, e)
		}
	}
}

func testLedgerAppendAndList(t *testing.T, s store.Store) {
	mustCreate(t, s, merchant("pk_a"))
	r1 := row("TID1", "pk_a", true)
	r1.Digest = bytes.Repeat([]byte{7}, 32)
	r2 := row("TID2", "pk_a", false)
	r2.Code, r2.Result, r2.IDName, r2.Photo, r2.Score, r2.Reason = "0000", 2, 0, 0, 0, "blur"
	r3 := row("TID3", "pk_a", false)
	r3.Code, r3.Result, r3.IDName, r3.Photo, r3.Score = "2000", 0, 0, 0, 0
	r1.UpstreamTraceID, r1.UpstreamCharged = "TIDupstream1", true // answered by a supplier
	// The supplier billed a call we could not use (answered 2000, free):
	// the operator must still see what it cost.
	r3.UpstreamTraceID, r3.UpstreamCharged = "TIDupstream3", true
	appendOK(t, s, r1, r2, r3)
	got, err := s.ListLedger(ctx, store.LedgerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.LedgerRow{r1, r2, r3}
	if len(got) != len(want) {
		t.Fatalf("ListLedger returned %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		assertRow(t, got[i], want[i])
	}
	m, _ := s.GetMerchant(ctx, "pk_a")
	if m.QuotaUsed != 1 {
		t.Errorf("QuotaUsed = %d after one charged row, want 1", m.QuotaUsed)
	}
}

func assertRow(t *testing.T, got, want store.LedgerRow) {
	t.Helper()
	if len(got.Digest) == 0 {
		got.Digest = nil
	}
	if len(want.Digest) == 0 {
		want.Digest = nil
	}
	if !got.Time.Equal(want.Time) {
		t.Errorf("row %s time %v, want %v", want.TraceID, got.Time, want.Time)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("row:\n got %+v\nwant %+v", got, want)
	}
}

func testLedgerIdempotent(t *testing.T, s store.Store) {
	m := merchant("pk_a")
	m.FreeQuota = 10
	mustCreate(t, s, m)
	r := row("TIDX", "pk_a", true)
	appendOK(t, s, r)
	dup := r
	dup.Code = "9999"
	appendOK(t, s, dup, dup) // twice in one batch too
	rows, _ := s.ListLedger(ctx, store.LedgerFilter{})
	if len(rows) != 1 || rows[0].Code != "0000" {
		t.Fatalf("after duplicates: %d rows (%v), want the first row only", len(rows), rows)
	}
	got, _ := s.GetMerchant(ctx, "pk_a")
	if got.QuotaUsed != 1 {
		t.Errorf("QuotaUsed = %d, want 1: a duplicate trace_id must not charge", got.QuotaUsed)
	}
}

func testLedgerQuotaExact(t *testing.T, s store.Store) {
	m := merchant("pk_a")
	m.FreeQuota = 2
	mustCreate(t, s, m)
	errs, err := s.AppendLedger(ctx, []store.LedgerRow{
		row("q1", "pk_a", true), row("q2", "pk_a", false), row("q3", "pk_a", true), row("q4", "pk_a", true),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, false, false, true} {
		if got := errors.Is(errs[i], store.ErrQuotaExhausted); got != want {
			t.Errorf("row %d: err %v, want quota exhausted %v", i, errs[i], want)
		}
	}
	rows, _ := s.ListLedger(ctx, store.LedgerFilter{})
	if len(rows) != 3 {
		t.Errorf("%d rows written, want 3 (the refused row is not written)", len(rows))
	}
	got, _ := s.GetMerchant(ctx, "pk_a")
	if got.QuotaUsed != 2 {
		t.Errorf("QuotaUsed = %d, want 2", got.QuotaUsed)
	}
	// Raising the quota lets charges through again.
	if _, err := s.UpdateMerchant(ctx, "pk_a", func(m *store.Merchant) error { m.FreeQuota = 3; return nil }); err != nil {
		t.Fatal(err)
	}
	appendOK(t, s, row("q5", "pk_a", true))
}

func testLedgerQuotaConcurrent(t *testing.T, s store.Store) {
	const quota, workers, each = 37, 50, 3
	m := merchant("pk_a")
	m.FreeQuota = quota
	mustCreate(t, s, m)
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				errs, err := s.AppendLedger(ctx, []store.LedgerRow{row(fmt.Sprintf("c%d-%d", w, i), "pk_a", true)})
				if err != nil {
					t.Error(err)
					return
				}
				if errors.Is(errs[0], store.ErrQuotaExhausted) {
					refused.Add(1)
				} else if errs[0] == nil {
					ok.Add(1)
				} else {
					t.Error(errs[0])
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != quota || refused.Load() != workers*each-quota {
		t.Errorf("charged %d, refused %d; want %d and %d", ok.Load(), refused.Load(), quota, workers*each-quota)
	}
	got, _ := s.GetMerchant(ctx, "pk_a")
	rows, _ := s.ListLedger(ctx, store.LedgerFilter{AppKey: "pk_a"})
	if got.QuotaUsed != quota || len(rows) != quota {
		t.Errorf("QuotaUsed %d, rows %d; want %d each", got.QuotaUsed, len(rows), quota)
	}
}

func testLedgerUnlimited(t *testing.T, s store.Store) {
	mustCreate(t, s, merchant("pk_a")) // FreeQuota 0: unlimited
	var rows []store.LedgerRow
	for i := range 100 {
		rows = append(rows, row(fmt.Sprintf("u%d", i), "pk_a", true))
	}
	appendOK(t, s, rows...)
	got, _ := s.GetMerchant(ctx, "pk_a")
	if got.QuotaUsed != 100 {
		t.Errorf("QuotaUsed = %d, want 100", got.QuotaUsed)
	}
}

func testLedgerBatchAtomic(t *testing.T, s store.Store) {
	mustCreate(t, s, merchant("pk_a"))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.AppendLedger(cctx, []store.LedgerRow{row("x1", "pk_a", true), row("x2", "pk_a", true)}); err == nil {
		t.Fatal("AppendLedger with a cancelled context succeeded")
	}
	rows, _ := s.ListLedger(ctx, store.LedgerFilter{})
	got, _ := s.GetMerchant(ctx, "pk_a")
	if len(rows) != 0 || got.QuotaUsed != 0 {
		t.Errorf("failed batch left %d rows and quota use %d", len(rows), got.QuotaUsed)
	}
}

// appendAlternating writes six rows an hour apart, trace_ids prefix0 to
// prefix5, alternating between merchants pk_a (even) and pk_b (odd), which
// it creates; charged and edit, when set, shape row i. It returns the rows.
func appendAlternating(t *testing.T, s store.Store, prefix string, charged func(i int) bool, edit func(i int, r *store.LedgerRow)) []store.LedgerRow {
	t.Helper()
	mustCreate(t, s, merchant("pk_a"))
	mustCreate(t, s, merchant("pk_b"))
	var all []store.LedgerRow
	for i := range 6 {
		key := "pk_a"
		if i%2 == 1 {
			key = "pk_b"
		}
		r := row(fmt.Sprintf("%s%d", prefix, i), key, charged != nil && charged(i))
		r.Time = base.Add(time.Duration(i) * time.Hour)
		if edit != nil {
			edit(i, &r)
		}
		all = append(all, r)
	}
	appendOK(t, s, all...)
	return all
}

func testLedgerFilters(t *testing.T, s store.Store) {
	appendAlternating(t, s, "f", nil, nil)
	assertListings(t, s, []listing{
		{"all", store.LedgerFilter{}, []string{"f0", "f1", "f2", "f3", "f4", "f5"}},
		{"merchant", store.LedgerFilter{AppKey: "pk_b"}, []string{"f1", "f3", "f5"}},
		{"from inclusive", store.LedgerFilter{From: base.Add(4 * time.Hour)}, []string{"f4", "f5"}},
		{"to exclusive", store.LedgerFilter{To: base.Add(2 * time.Hour)}, []string{"f0", "f1"}},
		{"window and merchant", store.LedgerFilter{AppKey: "pk_a", From: base.Add(time.Hour), To: base.Add(5 * time.Hour)}, []string{"f2", "f4"}},
		{"limit", store.LedgerFilter{Limit: 2}, []string{"f0", "f1"}},
		{"unknown merchant", store.LedgerFilter{AppKey: "pk_zz"}, nil},
	})
}

func testLedgerUsage(t *testing.T, s store.Store) {
	mustCreate(t, s, merchant("pk_a"))
	mustCreate(t, s, merchant("pk_b"))
	mk := func(trace, key, code string, charged bool, at time.Time) store.LedgerRow {
		r := row(trace, key, charged)
		r.Code, r.Time = code, at
		return r
	}
	day1 := base                       // 2026-03-14 23:30 UTC
	day2 := base.Add(40 * time.Minute) // 2026-03-15 00:10 UTC
	billed := mk("u2", "pk_a", "0000", false, day1.Add(time.Second))
	billed.UpstreamTraceID, billed.UpstreamCharged = "TIDup2", true
	appendOK(t, s,
		mk("u1", "pk_a", "0000", true, day1),
		billed,
		mk("u3", "pk_a", "1002", false, day1.Add(2*time.Second)),
		mk("u4", "pk_a", "0000", true, day2),
		mk("u5", "pk_b", "1006", false, day2),
	)
	got, err := s.LedgerUsage(ctx, store.LedgerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Usage{
		{AppKey: "pk_a", Day: "2026-03-14", Code: "0000", Calls: 2, Charged: 1, UpstreamCharged: 1},
		{AppKey: "pk_a", Day: "2026-03-14", Code: "1002", Calls: 1, Charged: 0},
		{AppKey: "pk_a", Day: "2026-03-15", Code: "0000", Calls: 1, Charged: 1},
		{AppKey: "pk_b", Day: "2026-03-15", Code: "1006", Calls: 1, Charged: 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("usage:\n got %+v\nwant %+v", got, want)
	}
	got, err = s.LedgerUsage(ctx, store.LedgerFilter{AppKey: "pk_a", From: day2})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want[2:3]) {
		t.Errorf("filtered usage: got %+v, want %+v", got, want[2:3])
	}
}

func testLedgerFindAnswer(t *testing.T, s store.Store) {
	mustCreate(t, s, merchant("pk_a"))
	mustCreate(t, s, merchant("pk_b"))
	plain := row("a0", "pk_a", false)
	plain.RequestID = "r1"
	plain.Code = "1002"
	answer := row("a1", "pk_a", true)
	answer.RequestID = "r1"
	answer.Digest = bytes.Repeat([]byte{9}, 32)
	appendOK(t, s, plain, answer)
	got, err := s.FindAnswer(ctx, "pk_a", "r1")
	if err != nil {
		t.Fatal(err)
	}
	assertRow(t, got, answer)
	for _, c := range []struct{ key, req string }{{"pk_b", "r1"}, {"pk_a", "r2"}} {
		if _, err := s.FindAnswer(ctx, c.key, c.req); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FindAnswer(%s, %s) = %v, want ErrNotFound", c.key, c.req, err)
		}
	}
}

package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/portrait-id/portrait/store"
)

// listing is a filter and the trace_ids it must list, in order.
type listing struct {
	name string
	f    store.LedgerFilter
	want []string
}

func assertListings(t *testing.T, s store.Store, cases []listing) {
	t.Helper()
	for _, c := range cases {
		rows, err := s.ListLedger(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, r.TraceID)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// testLedgerSearch covers what a dispute needs: one call by trace_id or
// request_id, calls by code, newest first.
func testLedgerSearch(t *testing.T, s store.Store) {
	all := appendAlternating(t, s, "s", func(i int) bool { return i%3 == 0 }, func(i int, r *store.LedgerRow) {
		r.RequestID = fmt.Sprintf("order-%d", i/2) // one request_id per merchant pair
		if i >= 4 {
			r.Code, r.Result, r.IDName, r.Photo, r.Score = "1006", 0, 0, 0, 0
		}
	})
	assertListings(t, s, []listing{
		{"trace_id", store.LedgerFilter{TraceID: "s3"}, []string{"s3"}},
		{"unknown trace_id", store.LedgerFilter{TraceID: "nope"}, nil},
		{"request_id", store.LedgerFilter{RequestID: "order-1"}, []string{"s2", "s3"}},
		{"request_id of one merchant", store.LedgerFilter{RequestID: "order-1", AppKey: "pk_b"}, []string{"s3"}},
		{"code", store.LedgerFilter{Code: "1006"}, []string{"s4", "s5"}},
		{"code and window", store.LedgerFilter{Code: "0000", From: base.Add(time.Hour), To: base.Add(3 * time.Hour)}, []string{"s1", "s2"}},
		{"newest", store.LedgerFilter{Newest: true, Limit: 3}, []string{"s5", "s4", "s3"}},
		{"newest of one merchant", store.LedgerFilter{Newest: true, AppKey: "pk_a"}, []string{"s4", "s2", "s0"}},
	})
	// The verdict is kept on every row, for "why was this charged".
	rows, _ := s.ListLedger(ctx, store.LedgerFilter{TraceID: "s0"})
	if len(rows) != 1 {
		t.Fatalf("trace s0: %d rows", len(rows))
	}
	assertRow(t, rows[0], all[0])
}

// testLedgerDailyTotals checks that whole-day usage, answered from the
// per-day totals, agrees with the rows: duplicates and refused charges are
// not counted, and days and merchants filter as on the rows.
func testLedgerDailyTotals(t *testing.T, s store.Store) {
	m := merchant("pk_a")
	m.FreeQuota = 2
	mustCreate(t, s, m)
	mustCreate(t, s, merchant("pk_b"))
	day1 := time.Date(2026, 3, 14, 23, 59, 59, 0, time.UTC)
	day2 := day1.Add(2 * time.Second) // 2026-03-15
	mk := func(trace, key, code string, charged bool, at time.Time) store.LedgerRow {
		r := row(trace, key, charged)
		r.Code, r.Time = code, at
		return r
	}
	up := mk("d4", "pk_b", "0000", false, day2)
	up.UpstreamCharged, up.UpstreamTraceID = true, "TIDup"
	errs, err := s.AppendLedger(ctx, []store.LedgerRow{
		mk("d1", "pk_a", "0000", true, day1),
		mk("d2", "pk_a", "0000", true, day2),
		mk("d3", "pk_a", "0000", true, day2), // over the quota: refused, not counted
		up,
		mk("d5", "pk_b", "1002", false, day2),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(errs[2], store.ErrQuotaExhausted) {
		t.Fatalf("third charge: %v, want quota exhausted", errs[2])
	}
	appendOK(t, s, mk("d1", "pk_a", "0000", true, day1)) // a duplicate
	midnight2 := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	for _, f := range []store.LedgerFilter{
		{},
		{AppKey: "pk_b"},
		{From: midnight2},
		{To: midnight2},
		{From: midnight2, To: midnight2.AddDate(0, 0, 1), AppKey: "pk_a"},
		{Code: "1002"},
	} {
		got, err := s.LedgerUsage(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		// The same filter one nanosecond off midnight must scan the rows.
		scan := f
		if scan.From.IsZero() {
			scan.From = day1.Add(-time.Hour)
		}
		scan.From = scan.From.Add(-time.Nanosecond)
		want, err := s.LedgerUsage(ctx, scan)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("usage of %+v from the daily totals:\n got %+v\nwant %+v (from the rows)", f, got, want)
		}
	}
	got, _ := s.LedgerUsage(ctx, store.LedgerFilter{})
	want := []store.Usage{
		{AppKey: "pk_a", Day: "2026-03-14", Code: "0000", Calls: 1, Charged: 1},
		{AppKey: "pk_a", Day: "2026-03-15", Code: "0000", Calls: 1, Charged: 1},
		{AppKey: "pk_b", Day: "2026-03-15", Code: "0000", Calls: 1, UpstreamCharged: 1},
		{AppKey: "pk_b", Day: "2026-03-15", Code: "1002", Calls: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("daily totals:\n got %+v\nwant %+v", got, want)
	}
}

func operator(name string) store.Operator {
	return store.Operator{Name: name, PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", CreatedAt: base, UpdatedAt: base}
}

func testOperatorCRUD(t *testing.T, s store.Store) {
	if err := s.CreateOperator(ctx, operator("zoe")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOperator(ctx, operator("adam")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOperator(ctx, operator("adam")); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate operator: %v, want ErrExists", err)
	}
	got, err := s.GetOperator(ctx, "adam")
	if err != nil || !reflect.DeepEqual(got, operator("adam")) {
		t.Errorf("GetOperator = %+v, %v; want %+v", got, err, operator("adam"))
	}
	list, err := s.ListOperators(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "adam" || list[1].Name != "zoe" {
		t.Errorf("ListOperators = %+v, %v; want adam, zoe", list, err)
	}
	upd := operator("adam")
	upd.PasswordHash, upd.UpdatedAt = "other", base.Add(time.Hour)
	if err := s.UpdateOperator(ctx, upd); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetOperator(ctx, "adam"); !reflect.DeepEqual(got, upd) {
		t.Errorf("after update: %+v, want %+v", got, upd)
	}
	for _, err := range []error{
		s.UpdateOperator(ctx, operator("nobody")),
		s.DeleteOperator(ctx, "nobody"),
		func() error { _, err := s.GetOperator(ctx, "nobody"); return err }(),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown operator: %v, want ErrNotFound", err)
		}
	}
	if err := s.DeleteOperator(ctx, "adam"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetOperator(ctx, "adam"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted operator: %v", err)
	}
}

func session(op string, token byte, at time.Time) store.Session {
	return store.Session{TokenHash: bytes.Repeat([]byte{token}, 32), Operator: op, CSRF: fmt.Sprintf("csrf-%d", token),
		CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
}

func testOperatorSessions(t *testing.T, s store.Store) {
	for _, n := range []string{"ann", "bob"} {
		if err := s.CreateOperator(ctx, operator(n)); err != nil {
			t.Fatal(err)
		}
	}
	s1, s2, s3 := session("ann", 1, base), session("ann", 2, base), session("bob", 3, base)
	for _, se := range []store.Session{s1, s2, s3} {
		if err := s.CreateSession(ctx, se); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetSession(ctx, s1.TokenHash)
	if err != nil || !reflect.DeepEqual(got, s1) {
		t.Errorf("GetSession = %+v, %v; want %+v", got, err, s1)
	}
	if err := s.DeleteSession(ctx, s1.TokenHash); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, s1.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted session: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, s1.TokenHash); err != nil {
		t.Errorf("deleting an unknown session: %v", err)
	}
	// A new password ends the operator's sessions, nobody else's.
	upd := operator("ann")
	upd.PasswordHash = "new"
	if err := s.UpdateOperator(ctx, upd); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, s2.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session after password change: %v, want ErrNotFound", err)
	}
	if _, err := s.GetSession(ctx, s3.TokenHash); err != nil {
		t.Errorf("another operator's session: %v", err)
	}
	// A removed operator's sessions go with it.
	if err := s.DeleteOperator(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, s3.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session of a removed operator: %v, want ErrNotFound", err)
	}
	// Creating a session drops the expired ones.
	old := session("ann", 4, base)
	if err := s.CreateSession(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, session("ann", 5, base.Add(2*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, old.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired session kept: %v", err)
	}
}

func testAudit(t *testing.T, s store.Store) {
	var want []store.AuditEntry
	for i, op := range []string{"ann", "bob", "ann"} {
		e := store.AuditEntry{Time: base.Add(time.Duration(i) * time.Minute), Operator: op, Action: "merchant.freeze",
			Target: fmt.Sprintf("pk_%d", i), Detail: "status frozen", Remote: "127.0.0.1"}
		id, err := s.AppendAudit(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		e.ID = id
		want = append(want, e)
	}
	if want[0].ID == want[1].ID || want[1].ID == want[2].ID {
		t.Errorf("audit ids not distinct: %d %d %d", want[0].ID, want[1].ID, want[2].ID)
	}
	cases := []struct {
		f    store.AuditFilter
		want []store.AuditEntry
	}{
		{store.AuditFilter{}, []store.AuditEntry{want[2], want[1], want[0]}},
		{store.AuditFilter{Operator: "ann"}, []store.AuditEntry{want[2], want[0]}},
		{store.AuditFilter{From: base.Add(time.Minute), To: base.Add(2 * time.Minute)}, []store.AuditEntry{want[1]}},
		{store.AuditFilter{Limit: 1}, []store.AuditEntry{want[2]}},
	}
	for _, c := range cases {
		got, err := s.ListAudit(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ListAudit(%+v):\n got %+v\nwant %+v", c.f, got, c.want)
		}
	}
}

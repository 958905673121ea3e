package console_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portrait-id/portrait/store"
)

// The size the console must stay fast at (issue 13): 100 merchants and a
// million ledger rows.
const (
	benchMerchants = 100
	benchRows      = 1_000_000
)

var (
	benchOnce sync.Once
	benchEnv  *env
	benchKeys []string
	benchErr  error
)

// bigEnv builds, once per test binary, the service holding benchMerchants
// merchants and benchRows calls over the last 30 days. The rows are made
// inside SQLite by one INSERT … SELECT over a counter (seconds, where a
// million AppendLedger rows take about a minute), and the per-day totals
// recomputed from them as the schema's migration does; the last
// thousand calls go through AppendLedger, as the service writes them.
func bigEnv(b *testing.B) *env {
	benchOnce.Do(func() {
		start := time.Now()
		benchEnv = newEnv(&onceTB{B: b})
		ctx := context.Background()
		for i := range benchMerchants {
			c, err := benchEnv.app.Merchants.Create(ctx, merchantSettings(fmt.Sprintf("Merchant %03d", i)))
			if err != nil {
				benchErr = err
				return
			}
			benchKeys = append(benchKeys, c.Merchant.AppKey)
		}
		now := time.Now().UTC()
		const recorded = 1000
		if benchErr = bulkLedger(ctx, benchEnv.db, benchRows-recorded, now.Add(-time.Hour)); benchErr != nil {
			return
		}
		rows := make([]store.LedgerRow, recorded)
		for i := range rows {
			rows[i] = store.LedgerRow{TraceID: fmt.Sprintf("TIDrecent%06d", i), AppKey: benchKeys[i%benchMerchants],
				RequestID: fmt.Sprintf("recent-%d", i), Code: "0000", Result: 1, IDName: 1, Photo: 1, Score: 80, Charged: true,
				Latency: time.Duration(10+i%50) * time.Millisecond, Time: now.Add(-time.Duration(i) * time.Second), IDMasked: "110105********002X"}
		}
		if _, benchErr = benchEnv.app.Store.AppendLedger(ctx, rows); benchErr != nil {
			return
		}
		b.Logf("generated %d merchants and %d ledger rows in %v", benchMerchants, benchRows, time.Since(start).Round(time.Millisecond))
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchEnv
}

// bulkLedger writes n calls of the merchants, one every 30 days / n back
// from last, one in nine a 1002, in one transaction on the SQLite file.
func bulkLedger(ctx context.Context, path string, n int, last time.Time) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	step := int64(30 * 24 * time.Hour / time.Duration(n))
	// The ledger's indexes are dropped and made again after the insert:
	// building an index by one sort is several times cheaper than a million
	// insertions into it.
	idx, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ledger' AND sql IS NOT NULL`)
	if err != nil {
		return err
	}
	var names, creates []string
	for idx.Next() {
		var name, create string
		if err := idx.Scan(&name, &create); err != nil {
			return err
		}
		names, creates = append(names, name), append(creates, create)
	}
	if err := idx.Err(); err != nil {
		return err
	}
	var qs []string
	for _, name := range names {
		qs = append(qs, `DROP INDEX `+name)
	}
	qs = append(qs, []string{
		`CREATE TEMP TABLE bench_keys AS SELECT row_number() OVER (ORDER BY app_key) - 1 AS idx, app_key FROM merchants`,
		`WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ?)
		INSERT INTO ledger (trace_id, app_key, request_id, code, result, id_name, photo, score, reason, digest, charged,
			latency_us, time_ns, id_masked, upstream_trace_id, upstream_charged)
		SELECT printf('TID%032x', i), k.app_key, 'req-' || i,
			CASE WHEN i % 9 = 0 THEN '1002' ELSE '0000' END, i % 9 != 0, i % 9 != 0, i % 9 != 0,
			CASE WHEN i % 9 = 0 THEN 0 ELSE 70 + i % 30 END, '', NULL, i % 9 != 0,
			(10 + i % 50) * 1000, ? - i * ?, '110105********002X', '', 0
		FROM c JOIN bench_keys k ON k.idx = i % (SELECT count(*) FROM bench_keys)`,
		`DELETE FROM ledger_daily`,
		`INSERT INTO ledger_daily
			SELECT app_key, strftime('%Y-%m-%d', time_ns / 1000000000, 'unixepoch'), code, count(*), sum(charged), sum(upstream_charged)
			FROM ledger GROUP BY 1, 2, 3`,
	}...)
	for _, q := range append(qs, creates...) {
		var args []any
		if strings.Contains(q, "RECURSIVE") {
			args = []any{n - 1, last.UnixNano(), step}
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("%.40s…: %w", q, err)
		}
	}
	return tx.Commit()
}

// onceTB lets the shared environment outlive the benchmark that built it:
// its temporary files are left to the test binary's end.
type onceTB struct{ *testing.B }

func (o *onceTB) TempDir() string           { return o.B.TempDir() }
func (o *onceTB) Cleanup(f func())          {}
func (o *onceTB) Helper()                   {}
func (o *onceTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (o *onceTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

// BenchmarkPages times each console page at that size, through HTTP as a
// browser asks for it; each must answer within 100 ms.
func BenchmarkPages(b *testing.B) {
	e := bigEnv(b)
	br := e.browser()
	br.t = b
	if code, _ := br.login(opName, opPassword); code != http.StatusSeeOther {
		b.Fatalf("login: %d", code)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	key := benchKeys[7]
	pages := []struct{ name, path string }{
		{"dashboard", "/"},
		{"merchants", "/merchants"},
		{"merchant", "/merchants/" + key},
		{"ledger", "/ledger"},
		{"ledger_trace_id", "/ledger?trace_id=" + fmt.Sprintf("TID%032x", 123456)},
		{"ledger_csv_merchant_day", "/ledger.csv?" + url.Values{"app_key": {key}, "day": {today}}.Encode()},
		{"ledger_request_id", "/ledger?request_id=req-654321"},
		{"ledger_merchant_day", "/ledger?" + url.Values{"app_key": {key}, "day": {today}}.Encode()},
		{"ledger_code", "/ledger?code=1002"},
		{"ledger_code_day", "/ledger?code=1002&day=" + today},
		{"registry", "/registry"},
		{"audit", "/audit"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			br.t = b
			for b.Loop() {
				if code, body := br.get(p.path); code != http.StatusOK {
					b.Fatalf("%s: %d %s", p.path, code, body)
				}
			}
		})
	}
}

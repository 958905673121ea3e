package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portrait-id/portrait/store"
)

// AppendLedger implements store.Ledger. A charged row is inserted first (a
// duplicate trace_id inserts nothing and so charges nothing), then its quota
// use is taken; when the quota is used up the row is deleted again, all
// inside the batch's one transaction.
func (db *DB) AppendLedger(ctx context.Context, rows []store.LedgerRow) ([]error, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("append ledger: %w", err)
	}
	defer tx.Rollback()
	ins := tx.StmtContext(ctx, db.insertLedger)
	charge := tx.StmtContext(ctx, db.chargeQuota)
	del := tx.StmtContext(ctx, db.deleteLedger)
	errs := make([]error, len(rows))
	kept := make([]store.LedgerRow, 0, len(rows))
	for i, r := range rows {
		res, err := ins.ExecContext(ctx, r.TraceID, r.AppKey, r.RequestID, r.Code, r.Result, r.IDName, r.Photo,
			r.Score, r.Reason, r.Digest, r.Charged, r.Latency.Microseconds(), r.Time.UnixNano(), r.IDMasked,
			r.UpstreamTraceID, r.UpstreamCharged)
		if err != nil {
			return nil, fmt.Errorf("append ledger %s: %w", r.TraceID, err)
		}
		inserted, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("append ledger %s: %w", r.TraceID, err)
		}
		if inserted == 0 {
			continue
		}
		if !r.Charged {
			kept = append(kept, r)
			continue
		}
		res, err = charge.ExecContext(ctx, r.AppKey)
		if err != nil {
			return nil, fmt.Errorf("charge quota of %s: %w", r.AppKey, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("charge quota of %s: %w", r.AppKey, err)
		} else if n == 0 {
			if _, err := del.ExecContext(ctx, r.TraceID); err != nil {
				return nil, fmt.Errorf("undo ledger row %s: %w", r.TraceID, err)
			}
			errs[i] = fmt.Errorf("charge %s: %w", r.TraceID, store.ErrQuotaExhausted)
			continue
		}
		kept = append(kept, r)
	}
	add := tx.StmtContext(ctx, db.addDaily)
	for _, u := range store.DailyTotals(kept) {
		if _, err := add.ExecContext(ctx, u.AppKey, u.Day, u.Code, u.Calls, u.Charged, u.UpstreamCharged); err != nil {
			return nil, fmt.Errorf("add daily totals of %s: %w", u.AppKey, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit ledger: %w", err)
	}
	return errs, nil
}

func ledgerWhere(f store.LedgerFilter) (string, []any) {
	var conds []string
	var args []any
	for _, c := range []struct{ col, v string }{{"app_key", f.AppKey}, {"trace_id", f.TraceID}, {"request_id", f.RequestID}, {"code", f.Code}} {
		if c.v != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if !f.From.IsZero() {
		conds = append(conds, "time_ns >= ?")
		args = append(args, f.From.UnixNano())
	}
	if !f.To.IsZero() {
		conds = append(conds, "time_ns < ?")
		args = append(args, f.To.UnixNano())
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

const ledgerColumns = `trace_id, app_key, request_id, code, result, id_name, photo, score, reason, digest, charged, latency_us, time_ns, id_masked, upstream_trace_id, upstream_charged`

// ListLedger implements store.Ledger.
func (db *DB) ListLedger(ctx context.Context, f store.LedgerFilter) ([]store.LedgerRow, error) {
	where, args := ledgerWhere(f)
	q := `SELECT ` + ledgerColumns + ` FROM ledger` + where + ` ORDER BY time_ns, trace_id`
	if f.Newest {
		q = `SELECT ` + ledgerColumns + ` FROM ledger` + where + ` ORDER BY time_ns DESC, trace_id DESC`
	}
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return queryAll(ctx, db.r, "list ledger", scanLedger, q, args...)
}

// LedgerUsage implements store.Ledger.
func (db *DB) LedgerUsage(ctx context.Context, f store.LedgerFilter) ([]store.Usage, error) {
	scan := func(s scanner) (store.Usage, error) {
		var u store.Usage
		err := s.Scan(&u.AppKey, &u.Day, &u.Code, &u.Calls, &u.Charged, &u.UpstreamCharged)
		return u, err
	}
	if from, to, ok := store.WholeDays(f); ok {
		var conds []string
		var args []any
		for _, c := range []struct{ cond, v string }{{"app_key = ?", f.AppKey}, {"code = ?", f.Code}, {"day >= ?", from}, {"day < ?", to}} {
			if c.v != "" {
				conds = append(conds, c.cond)
				args = append(args, c.v)
			}
		}
		q := `SELECT app_key, day, code, calls, charged, upstream_charged FROM ledger_daily`
		if len(conds) > 0 {
			q += ` WHERE ` + strings.Join(conds, " AND ")
		}
		return queryAll(ctx, db.r, "ledger usage", scan, q+` ORDER BY app_key, day, code`, args...)
	}
	where, args := ledgerWhere(f)
	return queryAll(ctx, db.r, "ledger usage", scan, `SELECT app_key, strftime('%Y-%m-%d', time_ns / 1000000000, 'unixepoch') AS day,
		code, count(*), sum(charged), sum(upstream_charged) FROM ledger`+where+` GROUP BY app_key, day, code ORDER BY app_key, day, code`, args...)
}

const findAnswerQuery = `SELECT ` + ledgerColumns + ` FROM ledger
	WHERE app_key = ? AND request_id = ? AND digest IS NOT NULL LIMIT 1`

// FindAnswer implements store.Ledger. There is at most one answer per
// request_id (later calls with it are replays, which write no row, or
// refusals, which carry no digest); no ORDER BY, which would tempt the
// planner into walking the merchant's whole ledger by time.
func (db *DB) FindAnswer(ctx context.Context, appKey, requestID string) (store.LedgerRow, error) {
	row := db.r.QueryRowContext(ctx, findAnswerQuery, appKey, requestID)
	r, err := scanLedger(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.LedgerRow{}, fmt.Errorf("answer to %s/%s: %w", appKey, requestID, store.ErrNotFound)
	}
	if err != nil {
		return store.LedgerRow{}, fmt.Errorf("find answer: %w", err)
	}
	return r, nil
}

func scanLedger(s scanner) (store.LedgerRow, error) {
	var (
		r         store.LedgerRow
		latencyUS int64
		timeNS    int64
	)
	err := s.Scan(&r.TraceID, &r.AppKey, &r.RequestID, &r.Code, &r.Result, &r.IDName, &r.Photo, &r.Score,
		&r.Reason, &r.Digest, &r.Charged, &latencyUS, &timeNS, &r.IDMasked, &r.UpstreamTraceID, &r.UpstreamCharged)
	if err != nil {
		return store.LedgerRow{}, err
	}
	r.Latency = time.Duration(latencyUS) * time.Microsecond
	r.Time = time.Unix(0, timeNS).UTC()
	return r, nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/portrait-id/portrait/store"
)

// AppendLedger implements store.Ledger. The charged rows' merchants are
// locked first, in app_key order, so that concurrent batches wait for each
// other instead of deadlocking. Then each row is inserted (a duplicate
// trace_id inserts nothing and so charges nothing) and, when charged, takes
// its quota use; when the quota is used up the row is deleted again, all
// inside the batch's one transaction. Under the lock the quota check is
// exact across every instance sharing the database.
func (s *Store) AppendLedger(ctx context.Context, rows []store.LedgerRow) ([]error, error) {
	errs := make([]error, len(rows))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		clear(errs)
		if keys := chargedMerchants(rows); len(keys) > 0 {
			if _, err := tx.Exec(ctx, `SELECT 1 FROM merchants WHERE app_key = ANY($1) ORDER BY app_key FOR UPDATE`, keys); err != nil {
				return fmt.Errorf("lock merchants: %w", err)
			}
		}
		kept := make([]store.LedgerRow, 0, len(rows))
		for i, r := range rows {
			tag, err := tx.Exec(ctx, `INSERT INTO ledger (`+ledgerColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT (trace_id) DO NOTHING`,
				r.TraceID, r.AppKey, r.RequestID, r.Code, r.Result, r.IDName, r.Photo,
				r.Score, r.Reason, r.Digest, r.Charged, r.Latency.Microseconds(), r.Time, r.IDMasked,
				r.UpstreamTraceID, r.UpstreamCharged)
			if err != nil {
				return fmt.Errorf("append ledger %s: %w", r.TraceID, err)
			}
			if tag.RowsAffected() == 0 {
				continue
			}
			if !r.Charged {
				kept = append(kept, r)
				continue
			}
			tag, err = tx.Exec(ctx, `UPDATE merchants SET quota_used = quota_used + 1
				WHERE app_key = $1 AND (free_quota = 0 OR quota_used < free_quota)`, r.AppKey)
			if err != nil {
				return fmt.Errorf("charge quota of %s: %w", r.AppKey, err)
			}
			if tag.RowsAffected() == 0 {
				if _, err := tx.Exec(ctx, `DELETE FROM ledger WHERE trace_id = $1`, r.TraceID); err != nil {
					return fmt.Errorf("undo ledger row %s: %w", r.TraceID, err)
				}
				errs[i] = fmt.Errorf("charge %s: %w", r.TraceID, store.ErrQuotaExhausted)
				continue
			}
			kept = append(kept, r)
		}
		// In key order, like the merchants above, so that concurrent
		// batches take these rows' locks in one order.
		for _, u := range store.DailyTotals(kept) {
			if _, err := tx.Exec(ctx, `INSERT INTO ledger_daily (app_key, day, code, calls, charged, upstream_charged)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (app_key, day, code) DO UPDATE SET
				calls = ledger_daily.calls + excluded.calls, charged = ledger_daily.charged + excluded.charged,
				upstream_charged = ledger_daily.upstream_charged + excluded.upstream_charged`,
				u.AppKey, u.Day, u.Code, u.Calls, u.Charged, u.UpstreamCharged); err != nil {
				return fmt.Errorf("add daily totals of %s: %w", u.AppKey, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("append ledger: %w", err)
	}
	return errs, nil
}

func chargedMerchants(rows []store.LedgerRow) []string {
	var keys []string
	for _, r := range rows {
		if r.Charged {
			keys = append(keys, r.AppKey)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

const ledgerColumns = `trace_id, app_key, request_id, code, result, id_name, photo, score, reason, digest, charged, latency_us, time, id_masked, upstream_trace_id, upstream_charged`

func ledgerWhere(f store.LedgerFilter) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)), 1))
	}
	for _, c := range []struct{ col, v string }{{"app_key", f.AppKey}, {"trace_id", f.TraceID}, {"request_id", f.RequestID}, {"code", f.Code}} {
		if c.v != "" {
			add(c.col+" = ?", c.v)
		}
	}
	if !f.From.IsZero() {
		add("time >= ?", f.From)
	}
	if !f.To.IsZero() {
		add("time < ?", f.To)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListLedger implements store.Ledger.
func (s *Store) ListLedger(ctx context.Context, f store.LedgerFilter) ([]store.LedgerRow, error) {
	where, args := ledgerWhere(f)
	q := `SELECT ` + ledgerColumns + ` FROM ledger` + where + ` ORDER BY time, trace_id`
	if f.Newest {
		q = `SELECT ` + ledgerColumns + ` FROM ledger` + where + ` ORDER BY time DESC, trace_id DESC`
	}
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += ` LIMIT $` + strconv.Itoa(len(args))
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list ledger: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.LedgerRow, error) { return scanLedger(r) })
	if err != nil {
		return nil, fmt.Errorf("list ledger: %w", err)
	}
	return out, nil
}

// LedgerUsage implements store.Ledger.
func (s *Store) LedgerUsage(ctx context.Context, f store.LedgerFilter) ([]store.Usage, error) {
	var rows pgx.Rows
	var err error
	if from, to, ok := store.WholeDays(f); ok {
		var conds []string
		var args []any
		for _, c := range []struct{ cond, v string }{{"app_key = ", f.AppKey}, {"code = ", f.Code}, {"day >= ", from}, {"day < ", to}} {
			if c.v != "" {
				args = append(args, c.v)
				conds = append(conds, c.cond+"$"+strconv.Itoa(len(args)))
			}
		}
		q := `SELECT app_key, day, code, calls, charged, upstream_charged FROM ledger_daily`
		if len(conds) > 0 {
			q += ` WHERE ` + strings.Join(conds, " AND ")
		}
		rows, err = s.pool.Query(ctx, q+` ORDER BY app_key, day, code`, args...)
	} else {
		where, args := ledgerWhere(f)
		rows, err = s.pool.Query(ctx, `SELECT app_key, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
		code, count(*), count(*) FILTER (WHERE charged),
		count(*) FILTER (WHERE upstream_charged) FROM ledger`+where+`
		GROUP BY app_key, day, code ORDER BY app_key, day, code COLLATE "C"`, args...)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger usage: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Usage, error) {
		var u store.Usage
		err := r.Scan(&u.AppKey, &u.Day, &u.Code, &u.Calls, &u.Charged, &u.UpstreamCharged)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger usage: %w", err)
	}
	return out, nil
}

// FindAnswer implements store.Ledger.
func (s *Store) FindAnswer(ctx context.Context, appKey, requestID string) (store.LedgerRow, error) {
	r, err := scanLedger(s.pool.QueryRow(ctx, `SELECT `+ledgerColumns+` FROM ledger
		WHERE app_key = $1 AND request_id = $2 AND digest IS NOT NULL ORDER BY time LIMIT 1`, appKey, requestID))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.LedgerRow{}, fmt.Errorf("answer to %s/%s: %w", appKey, requestID, store.ErrNotFound)
	}
	if err != nil {
		return store.LedgerRow{}, fmt.Errorf("find answer: %w", err)
	}
	return r, nil
}

func scanLedger(row pgx.Row) (store.LedgerRow, error) {
	var (
		r         store.LedgerRow
		latencyUS int64
	)
	err := row.Scan(&r.TraceID, &r.AppKey, &r.RequestID, &r.Code, &r.Result, &r.IDName, &r.Photo, &r.Score,
		&r.Reason, &r.Digest, &r.Charged, &latencyUS, &r.Time, &r.IDMasked, &r.UpstreamTraceID, &r.UpstreamCharged)
	if err != nil {
		return store.LedgerRow{}, err
	}
	r.Latency = time.Duration(latencyUS) * time.Microsecond
	r.Time = r.Time.UTC()
	return r, nil
}

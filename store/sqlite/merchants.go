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

const merchantColumns = `app_key, name, secret_cipher, status, expires_ns, services, qps, burst, free_quota, quota_used, created_ns, updated_ns, route`

// CreateMerchant implements store.Merchants.
func (db *DB) CreateMerchant(ctx context.Context, m store.Merchant) error {
	now := time.Now()
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO merchants (`+merchantColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
		m.AppKey, m.Name, m.SecretCipher, m.Status, nanos(m.ExpiresAt), joinServices(m.Services),
		m.QPS, m.Burst, m.FreeQuota, m.CreatedAt.UnixNano(), m.UpdatedAt.UnixNano(), m.Route)
	if isUniqueViolation(err) {
		return fmt.Errorf("create merchant %s: %w", m.AppKey, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create merchant %s: %w", m.AppKey, err)
	}
	return nil
}

// GetMerchant implements store.Merchants.
func (db *DB) GetMerchant(ctx context.Context, appKey string) (store.Merchant, error) {
	row := db.r.QueryRowContext(ctx, `SELECT `+merchantColumns+` FROM merchants WHERE app_key = ?`, appKey)
	m, err := scanMerchant(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Merchant{}, fmt.Errorf("merchant %s: %w", appKey, store.ErrNotFound)
	}
	if err != nil {
		return store.Merchant{}, fmt.Errorf("get merchant %s: %w", appKey, err)
	}
	return m, nil
}

// ListMerchants implements store.Merchants.
func (db *DB) ListMerchants(ctx context.Context) ([]store.Merchant, error) {
	return queryAll(ctx, db.r, "list merchants", scanMerchant, `SELECT `+merchantColumns+` FROM merchants ORDER BY app_key`)
}

// UpdateMerchant implements store.Merchants. The write connection's
// transactions are immediate: the write lock is held from the read on, so no
// other process can change the row in between.
func (db *DB) UpdateMerchant(ctx context.Context, appKey string, edit func(*store.Merchant) error) (store.Merchant, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return store.Merchant{}, fmt.Errorf("update merchant %s: %w", appKey, err)
	}
	defer tx.Rollback()
	m, err := scanMerchant(tx.QueryRowContext(ctx, `SELECT `+merchantColumns+` FROM merchants WHERE app_key = ?`, appKey))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Merchant{}, fmt.Errorf("update merchant %s: %w", appKey, store.ErrNotFound)
	}
	if err != nil {
		return store.Merchant{}, fmt.Errorf("update merchant %s: %w", appKey, err)
	}
	if err := store.EditMerchant(&m, edit); err != nil {
		return store.Merchant{}, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE merchants SET name = ?, secret_cipher = ?, status = ?, expires_ns = ?,
		services = ?, qps = ?, burst = ?, free_quota = ?, updated_ns = ?, route = ? WHERE app_key = ?`,
		m.Name, m.SecretCipher, m.Status, nanos(m.ExpiresAt), joinServices(m.Services),
		m.QPS, m.Burst, m.FreeQuota, m.UpdatedAt.UnixNano(), m.Route, appKey)
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return store.Merchant{}, fmt.Errorf("update merchant %s: %w", appKey, err)
	}
	return m, nil
}

// DeleteMerchant implements store.Merchants.
func (db *DB) DeleteMerchant(ctx context.Context, appKey string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM merchants WHERE app_key = ?`, appKey)
	if err != nil {
		return fmt.Errorf("delete merchant %s: %w", appKey, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete merchant %s: %w", appKey, err)
	} else if n == 0 {
		return fmt.Errorf("delete merchant %s: %w", appKey, store.ErrNotFound)
	}
	return nil
}

func scanMerchant(s scanner) (store.Merchant, error) {
	var (
		m                store.Merchant
		expires          sql.NullInt64
		services         string
		created, updated int64
	)
	err := s.Scan(&m.AppKey, &m.Name, &m.SecretCipher, &m.Status, &expires, &services,
		&m.QPS, &m.Burst, &m.FreeQuota, &m.QuotaUsed, &created, &updated, &m.Route)
	if err != nil {
		return store.Merchant{}, err
	}
	m.ExpiresAt = fromNanos(expires)
	m.Services = splitServices(services)
	m.CreatedAt = time.Unix(0, created).UTC()
	m.UpdatedAt = time.Unix(0, updated).UTC()
	return m, nil
}

// Services are few short tokens: a comma-separated column keeps the schema
// flat without a join on the hot path.
func joinServices(s []string) string { return strings.Join(s, ",") }

func splitServices(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

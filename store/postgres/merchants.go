package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/portrait-id/portrait/store"
)

const merchantColumns = `app_key, name, secret_cipher, status, expires_at, services, qps, burst, free_quota, quota_used, created_at, updated_at, route`

// CreateMerchant implements store.Merchants.
func (s *Store) CreateMerchant(ctx context.Context, m store.Merchant) error {
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now()
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO merchants (`+merchantColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12)`,
		m.AppKey, m.Name, m.SecretCipher, m.Status, nullTime(m.ExpiresAt), services(m.Services),
		m.QPS, m.Burst, m.FreeQuota, m.CreatedAt, m.UpdatedAt, m.Route)
	if isUniqueViolation(err) {
		return fmt.Errorf("create merchant %s: %w", m.AppKey, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create merchant %s: %w", m.AppKey, err)
	}
	return nil
}

// GetMerchant implements store.Merchants.
func (s *Store) GetMerchant(ctx context.Context, appKey string) (store.Merchant, error) {
	m, err := scanMerchant(s.pool.QueryRow(ctx, `SELECT `+merchantColumns+` FROM merchants WHERE app_key = $1`, appKey))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Merchant{}, fmt.Errorf("merchant %s: %w", appKey, store.ErrNotFound)
	}
	if err != nil {
		return store.Merchant{}, fmt.Errorf("get merchant %s: %w", appKey, err)
	}
	return m, nil
}

// ListMerchants implements store.Merchants.
func (s *Store) ListMerchants(ctx context.Context) ([]store.Merchant, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+merchantColumns+` FROM merchants ORDER BY app_key`)
	if err != nil {
		return nil, fmt.Errorf("list merchants: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Merchant, error) { return scanMerchant(r) })
	if err != nil {
		return nil, fmt.Errorf("list merchants: %w", err)
	}
	return out, nil
}

// UpdateMerchant implements store.Merchants: SELECT … FOR UPDATE holds
// the row until the commit, so concurrent edits run one after the other.
func (s *Store) UpdateMerchant(ctx context.Context, appKey string, edit func(*store.Merchant) error) (store.Merchant, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.Merchant{}, fmt.Errorf("update merchant %s: %w", appKey, err)
	}
	defer tx.Rollback(ctx)
	m, err := scanMerchant(tx.QueryRow(ctx, `SELECT `+merchantColumns+` FROM merchants WHERE app_key = $1 FOR UPDATE`, appKey))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Merchant{}, fmt.Errorf("update merchant %s: %w", appKey, store.ErrNotFound)
	}
	if err != nil {
		return store.Merchant{}, fmt.Errorf("update merchant %s: %w", appKey, err)
	}
	if err := store.EditMerchant(&m, edit); err != nil {
		return store.Merchant{}, err
	}
	_, err = tx.Exec(ctx, `UPDATE merchants SET name = $1, secret_cipher = $2, status = $3, expires_at = $4,
		services = $5, qps = $6, burst = $7, free_quota = $8, updated_at = $9, route = $10 WHERE app_key = $11`,
		m.Name, m.SecretCipher, m.Status, nullTime(m.ExpiresAt), services(m.Services),
		m.QPS, m.Burst, m.FreeQuota, m.UpdatedAt, m.Route, appKey)
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		return store.Merchant{}, fmt.Errorf("update merchant %s: %w", appKey, err)
	}
	return m, nil
}

// DeleteMerchant implements store.Merchants.
func (s *Store) DeleteMerchant(ctx context.Context, appKey string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM merchants WHERE app_key = $1`, appKey)
	if err != nil {
		return fmt.Errorf("delete merchant %s: %w", appKey, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete merchant %s: %w", appKey, store.ErrNotFound)
	}
	return nil
}

func scanMerchant(row pgx.Row) (store.Merchant, error) {
	var (
		m       store.Merchant
		expires *time.Time
	)
	err := row.Scan(&m.AppKey, &m.Name, &m.SecretCipher, &m.Status, &expires, &m.Services,
		&m.QPS, &m.Burst, &m.FreeQuota, &m.QuotaUsed, &m.CreatedAt, &m.UpdatedAt, &m.Route)
	if err != nil {
		return store.Merchant{}, err
	}
	m.ExpiresAt = fromNullTime(expires)
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	if len(m.Services) == 0 {
		m.Services = nil
	}
	return m, nil
}

// services stores no services as an empty array, not NULL, so the column
// needs no NULL case.
func services(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

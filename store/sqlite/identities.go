package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/portrait-id/portrait/store"
)

// PutIdentity implements store.Identities; a replaced record keeps its
// creation time.
func (db *DB) PutIdentity(ctx context.Context, rec store.Identity) error {
	now := time.Now()
	if rec.UpdatedAt.IsZero() {
		rec.UpdatedAt = now
	}
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = rec.UpdatedAt
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO identities (id_number, name, photo_sha256, template_status, template, created_ns, updated_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id_number) DO UPDATE SET name = excluded.name, photo_sha256 = excluded.photo_sha256,
			template_status = excluded.template_status, template = excluded.template, updated_ns = excluded.updated_ns`,
		rec.IDNumber, rec.Name, rec.PhotoSHA256, rec.TemplateStatus, rec.Template, rec.CreatedAt.UnixNano(), rec.UpdatedAt.UnixNano())
	if err != nil {
		return fmt.Errorf("put identity: %w", err)
	}
	return nil
}

// GetIdentity implements store.Identities.
func (db *DB) GetIdentity(ctx context.Context, idNumber string) (store.Identity, error) {
	var (
		rec              store.Identity
		created, updated int64
	)
	err := db.r.QueryRowContext(ctx, `SELECT id_number, name, photo_sha256, template_status, template, created_ns, updated_ns
		FROM identities WHERE id_number = ?`, idNumber).
		Scan(&rec.IDNumber, &rec.Name, &rec.PhotoSHA256, &rec.TemplateStatus, &rec.Template, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Identity{}, fmt.Errorf("identity: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Identity{}, fmt.Errorf("get identity: %w", err)
	}
	rec.CreatedAt = time.Unix(0, created).UTC()
	rec.UpdatedAt = time.Unix(0, updated).UTC()
	return rec, nil
}

// DeleteIdentity implements store.Identities.
func (db *DB) DeleteIdentity(ctx context.Context, idNumber string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM identities WHERE id_number = ?`, idNumber)
	if err != nil {
		return fmt.Errorf("delete identity: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete identity: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("delete identity: %w", store.ErrNotFound)
	}
	return nil
}

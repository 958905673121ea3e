package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/portrait-id/portrait/store"
)

// PutIdentity implements store.Identities; a replaced record keeps its
// creation time.
func (s *Store) PutIdentity(ctx context.Context, rec store.Identity) error {
	if rec.UpdatedAt.IsZero() {
		rec.UpdatedAt = time.Now()
	}
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = rec.UpdatedAt
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO identities (id_number, name, photo_sha256, template_status, template, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (id_number) DO UPDATE SET name = excluded.name, photo_sha256 = excluded.photo_sha256,
			template_status = excluded.template_status, template = excluded.template, updated_at = excluded.updated_at`,
		rec.IDNumber, rec.Name, rec.PhotoSHA256, rec.TemplateStatus, rec.Template, rec.CreatedAt, rec.UpdatedAt)
	if err != nil {
		return fmt.Errorf("put identity: %w", err)
	}
	return nil
}

// GetIdentity implements store.Identities.
func (s *Store) GetIdentity(ctx context.Context, idNumber string) (store.Identity, error) {
	var rec store.Identity
	err := s.pool.QueryRow(ctx, `SELECT id_number, name, photo_sha256, template_status, template, created_at, updated_at
		FROM identities WHERE id_number = $1`, idNumber).
		Scan(&rec.IDNumber, &rec.Name, &rec.PhotoSHA256, &rec.TemplateStatus, &rec.Template, &rec.CreatedAt, &rec.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Identity{}, fmt.Errorf("identity: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Identity{}, fmt.Errorf("get identity: %w", err)
	}
	rec.CreatedAt, rec.UpdatedAt = rec.CreatedAt.UTC(), rec.UpdatedAt.UTC()
	return rec, nil
}

// DeleteIdentity implements store.Identities.
func (s *Store) DeleteIdentity(ctx context.Context, idNumber string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM identities WHERE id_number = $1`, idNumber)
	if err != nil {
		return fmt.Errorf("delete identity: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete identity: %w", store.ErrNotFound)
	}
	return nil
}

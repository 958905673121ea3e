package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	_, err := s.pool.Exec(ctx, `INSERT INTO identities (id_number, name, photo_sha256, photo_cipher, template_status, template_model, template, sealed, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (id_number) DO UPDATE SET name = excluded.name, photo_sha256 = excluded.photo_sha256, photo_cipher = excluded.photo_cipher,
			template_status = excluded.template_status, template_model = excluded.template_model, template = excluded.template,
			sealed = excluded.sealed, updated_at = excluded.updated_at`,
		rec.IDNumber, rec.Name, rec.PhotoSHA256, rec.Photo, rec.TemplateStatus, rec.TemplateModel, rec.Template, rec.Sealed,
		rec.CreatedAt, rec.UpdatedAt)
	if err != nil {
		return fmt.Errorf("put identity: %w", err)
	}
	return nil
}

// identityColumns are what ListIdentities reads; GetIdentity adds the
// photo and the template.
const identityColumns = `id_number, name, photo_sha256, photo_cipher IS NOT NULL, template_status, template_model, sealed, created_at, updated_at`

func scanIdentity(row pgx.Row, extra ...any) (store.Identity, error) {
	var rec store.Identity
	dest := append([]any{&rec.IDNumber, &rec.Name, &rec.PhotoSHA256, &rec.PhotoKept, &rec.TemplateStatus, &rec.TemplateModel, &rec.Sealed, &rec.CreatedAt, &rec.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return store.Identity{}, err
	}
	rec.CreatedAt, rec.UpdatedAt = rec.CreatedAt.UTC(), rec.UpdatedAt.UTC()
	return rec, nil
}

// GetIdentity implements store.Identities.
func (s *Store) GetIdentity(ctx context.Context, idNumber string) (store.Identity, error) {
	var photo, template []byte
	rec, err := scanIdentity(s.pool.QueryRow(ctx, `SELECT `+identityColumns+`, photo_cipher, template
		FROM identities WHERE id_number = $1`, idNumber), &photo, &template)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Identity{}, fmt.Errorf("identity: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Identity{}, fmt.Errorf("get identity: %w", err)
	}
	rec.Photo, rec.Template = photo, template
	return rec, nil
}

// ListIdentities implements store.Identities.
func (s *Store) ListIdentities(ctx context.Context, f store.IdentityFilter) ([]store.Identity, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.IDPrefix != "" {
		where = append(where, `id_number >= `+arg(f.IDPrefix))
		if end, ok := store.PrefixEnd(f.IDPrefix); ok {
			where = append(where, `id_number < `+arg(end))
		}
	}
	if f.After != "" {
		where = append(where, `id_number > `+arg(f.After))
	}
	if f.Unsealed {
		where = append(where, `NOT sealed`)
	}
	q := `SELECT ` + identityColumns + ` FROM identities`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY id_number`
	if f.Limit > 0 {
		q += ` LIMIT ` + arg(f.Limit)
	}
	if f.Offset > 0 {
		q += ` OFFSET ` + arg(f.Offset)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Identity, error) { return scanIdentity(r) })
	if err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	return out, nil
}

// CountTemplates implements store.Identities.
func (s *Store) CountTemplates(ctx context.Context) ([]store.TemplateCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT template_model, template_status, count(*) FROM identities
		GROUP BY template_model, template_status ORDER BY template_model, template_status`)
	if err != nil {
		return nil, fmt.Errorf("count templates: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[store.TemplateCount])
	if err != nil {
		return nil, fmt.Errorf("count templates: %w", err)
	}
	return out, nil
}

// UpdateTemplate implements store.Identities.
func (s *Store) UpdateTemplate(ctx context.Context, rec store.Identity) error {
	tag, err := s.pool.Exec(ctx, `UPDATE identities SET template_status = $1, template_model = $2, template = $3, sealed = $4, updated_at = now()
		WHERE id_number = $5 AND photo_sha256 IS NOT DISTINCT FROM $6`,
		rec.TemplateStatus, rec.TemplateModel, rec.Template, rec.Sealed, rec.IDNumber, rec.PhotoSHA256)
	if err != nil {
		return fmt.Errorf("update template: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("update template: %w", store.ErrNotFound)
	}
	return nil
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

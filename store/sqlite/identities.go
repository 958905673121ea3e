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
	_, err := db.w.ExecContext(ctx, `INSERT INTO identities (id_number, name, photo_sha256, photo_cipher, template_status, template_model, template, sealed, created_ns, updated_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id_number) DO UPDATE SET name = excluded.name, photo_sha256 = excluded.photo_sha256, photo_cipher = excluded.photo_cipher,
			template_status = excluded.template_status, template_model = excluded.template_model, template = excluded.template,
			sealed = excluded.sealed, updated_ns = excluded.updated_ns`,
		rec.IDNumber, rec.Name, rec.PhotoSHA256, rec.Photo, rec.TemplateStatus, rec.TemplateModel, rec.Template, rec.Sealed,
		rec.CreatedAt.UnixNano(), rec.UpdatedAt.UnixNano())
	if err != nil {
		return fmt.Errorf("put identity: %w", err)
	}
	return nil
}

// identityColumns are what ListIdentities reads; GetIdentity adds the
// photo and the template.
const identityColumns = `id_number, name, photo_sha256, photo_cipher IS NOT NULL, template_status, template_model, sealed, created_ns, updated_ns`

func scanIdentity(row scanner, extra ...any) (store.Identity, error) {
	var (
		rec              store.Identity
		created, updated int64
	)
	dest := append([]any{&rec.IDNumber, &rec.Name, &rec.PhotoSHA256, &rec.PhotoKept, &rec.TemplateStatus, &rec.TemplateModel, &rec.Sealed, &created, &updated}, extra...)
	if err := row.Scan(dest...); err != nil {
		return store.Identity{}, err
	}
	rec.CreatedAt = time.Unix(0, created).UTC()
	rec.UpdatedAt = time.Unix(0, updated).UTC()
	return rec, nil
}

// GetIdentity implements store.Identities.
func (db *DB) GetIdentity(ctx context.Context, idNumber string) (store.Identity, error) {
	var photo, template []byte
	rec, err := scanIdentity(db.r.QueryRowContext(ctx, `SELECT `+identityColumns+`, photo_cipher, template
		FROM identities WHERE id_number = ?`, idNumber), &photo, &template)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Identity{}, fmt.Errorf("identity: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Identity{}, fmt.Errorf("get identity: %w", err)
	}
	rec.Photo, rec.Template = photo, template
	return rec, nil
}

// ListIdentities implements store.Identities.
func (db *DB) ListIdentities(ctx context.Context, f store.IdentityFilter) ([]store.Identity, error) {
	var (
		where []string
		args  []any
	)
	if f.IDPrefix != "" {
		where = append(where, `id_number >= ?`)
		args = append(args, f.IDPrefix)
		if end, ok := store.PrefixEnd(f.IDPrefix); ok {
			where = append(where, `id_number < ?`)
			args = append(args, end)
		}
	}
	if f.After != "" {
		where = append(where, `id_number > ?`)
		args = append(args, f.After)
	}
	if f.Unsealed {
		where = append(where, `sealed = 0`)
	}
	q := `SELECT ` + identityColumns + ` FROM identities`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY id_number LIMIT ? OFFSET ?`
	limit := int64(f.Limit)
	if limit <= 0 {
		limit = -1
	}
	args = append(args, limit, max(f.Offset, 0))
	return queryAll(ctx, db.r, "list identities", func(r scanner) (store.Identity, error) { return scanIdentity(r) }, q, args...)
}

// countTemplatesQuery is answered from the identities_templates index
// alone, without reading a record.
const countTemplatesQuery = `SELECT template_model, template_status, count(*) FROM identities
	GROUP BY template_model, template_status ORDER BY template_model, template_status`

// CountTemplates implements store.Identities.
func (db *DB) CountTemplates(ctx context.Context) ([]store.TemplateCount, error) {
	return queryAll(ctx, db.r, "count templates", func(r scanner) (store.TemplateCount, error) {
		var c store.TemplateCount
		err := r.Scan(&c.Model, &c.Status, &c.Count)
		return c, err
	}, countTemplatesQuery)
}

// UpdateTemplate implements store.Identities.
func (db *DB) UpdateTemplate(ctx context.Context, rec store.Identity) error {
	res, err := db.w.ExecContext(ctx, `UPDATE identities SET template_status = ?, template_model = ?, template = ?, sealed = ?, updated_ns = ?
		WHERE id_number = ? AND photo_sha256 IS ?`,
		rec.TemplateStatus, rec.TemplateModel, rec.Template, rec.Sealed, time.Now().UnixNano(), rec.IDNumber, rec.PhotoSHA256)
	return oneRow("update template", res, err)
}

// DeleteIdentity implements store.Identities.
func (db *DB) DeleteIdentity(ctx context.Context, idNumber string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM identities WHERE id_number = ?`, idNumber)
	return oneRow("delete identity", res, err)
}

// oneRow is the error of a statement meant to change one row: ErrNotFound
// when it changed none.
func oneRow(what string, res sql.Result, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

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

// CreateOperator implements store.Operators.
func (db *DB) CreateOperator(ctx context.Context, op store.Operator) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO operators (name, password_hash, created_ns, updated_ns) VALUES (?, ?, ?, ?)`,
		op.Name, op.PasswordHash, op.CreatedAt.UnixNano(), op.UpdatedAt.UnixNano())
	if isUniqueViolation(err) {
		return fmt.Errorf("create operator %s: %w", op.Name, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create operator %s: %w", op.Name, err)
	}
	return nil
}

func scanOperator(s scanner) (store.Operator, error) {
	var op store.Operator
	var created, updated int64
	if err := s.Scan(&op.Name, &op.PasswordHash, &created, &updated); err != nil {
		return store.Operator{}, err
	}
	op.CreatedAt, op.UpdatedAt = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
	return op, nil
}

// GetOperator implements store.Operators.
func (db *DB) GetOperator(ctx context.Context, name string) (store.Operator, error) {
	op, err := scanOperator(db.r.QueryRowContext(ctx, `SELECT name, password_hash, created_ns, updated_ns FROM operators WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Operator{}, fmt.Errorf("operator %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.Operator{}, fmt.Errorf("get operator %s: %w", name, err)
	}
	return op, nil
}

// ListOperators implements store.Operators.
func (db *DB) ListOperators(ctx context.Context) ([]store.Operator, error) {
	return queryAll(ctx, db.r, "list operators", scanOperator, `SELECT name, password_hash, created_ns, updated_ns FROM operators ORDER BY name`)
}

// UpdateOperator implements store.Operators.
func (db *DB) UpdateOperator(ctx context.Context, op store.Operator) error {
	return db.operatorTx(ctx, op.Name, "update operator",
		`UPDATE operators SET password_hash = ?, updated_ns = ? WHERE name = ?`, op.PasswordHash, op.UpdatedAt.UnixNano(), op.Name)
}

// DeleteOperator implements store.Operators.
func (db *DB) DeleteOperator(ctx context.Context, name string) error {
	return db.operatorTx(ctx, name, "delete operator", `DELETE FROM operators WHERE name = ?`, name)
}

// operatorTx changes one operator by query and ends its sessions, in one
// transaction.
func (db *DB) operatorTx(ctx context.Context, name, what, query string, args ...any) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, name, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s %s: %w", what, name, err)
	} else if n == 0 {
		return fmt.Errorf("%s %s: %w", what, name, store.ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM operator_sessions WHERE operator = ?`, name); err != nil {
		return fmt.Errorf("%s %s: end sessions: %w", what, name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s %s: %w", what, name, err)
	}
	return nil
}

// CreateSession implements store.Operators.
func (db *DB) CreateSession(ctx context.Context, s store.Session) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM operator_sessions WHERE expires_ns <= ?`, s.CreatedAt.UnixNano()); err != nil {
		return fmt.Errorf("drop expired sessions: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO operator_sessions (token_hash, operator, csrf, created_ns, expires_ns) VALUES (?, ?, ?, ?, ?)`,
		s.TokenHash, s.Operator, s.CSRF, s.CreatedAt.UnixNano(), s.ExpiresAt.UnixNano()); err != nil {
		return fmt.Errorf("create session of %s: %w", s.Operator, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// GetSession implements store.Operators.
func (db *DB) GetSession(ctx context.Context, tokenHash []byte) (store.Session, error) {
	var s store.Session
	var created, expires int64
	err := db.r.QueryRowContext(ctx, `SELECT token_hash, operator, csrf, created_ns, expires_ns FROM operator_sessions WHERE token_hash = ?`, tokenHash).
		Scan(&s.TokenHash, &s.Operator, &s.CSRF, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", err)
	}
	s.CreatedAt, s.ExpiresAt = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
	return s, nil
}

// DeleteSession implements store.Operators.
func (db *DB) DeleteSession(ctx context.Context, tokenHash []byte) error {
	if _, err := db.w.ExecContext(ctx, `DELETE FROM operator_sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// AppendAudit implements store.Operators.
func (db *DB) AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error) {
	res, err := db.w.ExecContext(ctx, `INSERT INTO audit (time_ns, operator, action, target, detail, remote) VALUES (?, ?, ?, ?, ?, ?)`,
		e.Time.UnixNano(), e.Operator, e.Action, e.Target, e.Detail, e.Remote)
	if err != nil {
		return 0, fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	return id, nil
}

// ListAudit implements store.Operators.
func (db *DB) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var conds []string
	var args []any
	if f.Operator != "" {
		conds, args = append(conds, "operator = ?"), append(args, f.Operator)
	}
	if !f.From.IsZero() {
		conds, args = append(conds, "time_ns >= ?"), append(args, f.From.UnixNano())
	}
	if !f.To.IsZero() {
		conds, args = append(conds, "time_ns < ?"), append(args, f.To.UnixNano())
	}
	q := `SELECT id, time_ns, operator, action, target, detail, remote FROM audit`
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, " AND ")
	}
	q += ` ORDER BY time_ns DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return queryAll(ctx, db.r, "list audit", func(s scanner) (store.AuditEntry, error) {
		var e store.AuditEntry
		var at int64
		err := s.Scan(&e.ID, &at, &e.Operator, &e.Action, &e.Target, &e.Detail, &e.Remote)
		e.Time = time.Unix(0, at).UTC()
		return e, err
	}, q, args...)
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/portrait-id/portrait/store"
)

// CreateOperator implements store.Operators.
func (s *Store) CreateOperator(ctx context.Context, op store.Operator) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO operators (name, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4)`,
		op.Name, op.PasswordHash, op.CreatedAt, op.UpdatedAt)
	if isUniqueViolation(err) {
		return fmt.Errorf("create operator %s: %w", op.Name, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create operator %s: %w", op.Name, err)
	}
	return nil
}

func scanOperator(row pgx.Row) (store.Operator, error) {
	var op store.Operator
	if err := row.Scan(&op.Name, &op.PasswordHash, &op.CreatedAt, &op.UpdatedAt); err != nil {
		return store.Operator{}, err
	}
	op.CreatedAt, op.UpdatedAt = op.CreatedAt.UTC(), op.UpdatedAt.UTC()
	return op, nil
}

// GetOperator implements store.Operators.
func (s *Store) GetOperator(ctx context.Context, name string) (store.Operator, error) {
	op, err := scanOperator(s.pool.QueryRow(ctx, `SELECT name, password_hash, created_at, updated_at FROM operators WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Operator{}, fmt.Errorf("operator %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.Operator{}, fmt.Errorf("get operator %s: %w", name, err)
	}
	return op, nil
}

// ListOperators implements store.Operators.
func (s *Store) ListOperators(ctx context.Context) ([]store.Operator, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, password_hash, created_at, updated_at FROM operators ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Operator, error) { return scanOperator(r) })
	if err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	return out, nil
}

// UpdateOperator implements store.Operators.
func (s *Store) UpdateOperator(ctx context.Context, op store.Operator) error {
	return s.operatorTx(ctx, op.Name, "update operator",
		`UPDATE operators SET password_hash = $1, updated_at = $2 WHERE name = $3`, op.PasswordHash, op.UpdatedAt, op.Name)
}

// DeleteOperator implements store.Operators.
func (s *Store) DeleteOperator(ctx context.Context, name string) error {
	return s.operatorTx(ctx, name, "delete operator", `DELETE FROM operators WHERE name = $1`, name)
}

// operatorTx changes one operator by query and ends its sessions, in one
// transaction.
func (s *Store) operatorTx(ctx context.Context, name, what, query string, args ...any) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, query, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		_, err = tx.Exec(ctx, `DELETE FROM operator_sessions WHERE operator = $1`, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, name, err)
	}
	return nil
}

// CreateSession implements store.Operators.
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM operator_sessions WHERE expires_at <= $1`, se.CreatedAt); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO operator_sessions (token_hash, operator, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
			se.TokenHash, se.Operator, se.CSRF, se.CreatedAt, se.ExpiresAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("create session of %s: %w", se.Operator, err)
	}
	return nil
}

// GetSession implements store.Operators.
func (s *Store) GetSession(ctx context.Context, tokenHash []byte) (store.Session, error) {
	var se store.Session
	err := s.pool.QueryRow(ctx, `SELECT token_hash, operator, csrf, created_at, expires_at FROM operator_sessions WHERE token_hash = $1`, tokenHash).
		Scan(&se.TokenHash, &se.Operator, &se.CSRF, &se.CreatedAt, &se.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Session{}, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", err)
	}
	se.CreatedAt, se.ExpiresAt = se.CreatedAt.UTC(), se.ExpiresAt.UTC()
	return se, nil
}

// DeleteSession implements store.Operators.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM operator_sessions WHERE token_hash = $1`, tokenHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// AppendAudit implements store.Operators.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO audit (time, operator, action, target, detail, remote) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		e.Time, e.Operator, e.Action, e.Target, e.Detail, e.Remote).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	return id, nil
}

// ListAudit implements store.Operators.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, cond+"$"+strconv.Itoa(len(args)))
	}
	if f.Operator != "" {
		add("operator = ", f.Operator)
	}
	if !f.From.IsZero() {
		add("time >= ", f.From)
	}
	if !f.To.IsZero() {
		add("time < ", f.To)
	}
	q := `SELECT id, time, operator, action, target, detail, remote FROM audit`
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, " AND ")
	}
	q += ` ORDER BY time DESC, id DESC`
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += ` LIMIT $` + strconv.Itoa(len(args))
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AuditEntry, error) {
		var e store.AuditEntry
		err := r.Scan(&e.ID, &e.Time, &e.Operator, &e.Action, &e.Target, &e.Detail, &e.Remote)
		e.Time = e.Time.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}

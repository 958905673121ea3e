// Package sqlite is the embedded storage backend: one SQLite file (pure-Go
// driver, WAL mode) implementing store.Store, with versioned migrations applied
// when it is opened.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/portrait-id/portrait/store"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// DB is an open SQLite store. Writes go through one connection, so that the
// process never contends with itself for SQLite's single write lock; reads use
// a pool of read-only connections, which WAL lets run beside the writer.
type DB struct {
	w *sql.DB
	r *sql.DB

	insertLedger *sql.Stmt
	chargeQuota  *sql.Stmt
	deleteLedger *sql.Stmt
	addDaily     *sql.Stmt
}

var _ store.Store = (*DB)(nil)

// Open opens (creating it and its directory when absent) the database file at
// path and applies pending migrations. The database holds full ID numbers,
// names and face templates: a new directory is made 0700 and a new file
// 0600 (SQLite gives its -wal and -shm files the database's mode), and an
// existing file readable by others is made 0600.
func Open(ctx context.Context, path string) (*DB, error) {
	exists, err := Check(path)
	if err != nil {
		return nil, err
	}
	if !exists {
		if err := create(path); err != nil {
			return nil, err
		}
	} else if err := tighten(path); err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	db := &DB{w: w}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db.r = r
	if err := db.prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// header is how every SQLite database file begins.
const header = "SQLite format 3\x00"

// Check reports whether a database file exists at path, and fails, naming
// path, when something else is there: a directory, or a file that is not a
// SQLite database (an empty file is one SQLite has yet to write).
func Check(path string) (bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("database %s: %w", path, err)
	}
	if fi.IsDir() {
		return false, fmt.Errorf("database %s is a directory, not a SQLite file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("database %s: %w", path, err)
	}
	defer f.Close()
	b := make([]byte, len(header))
	n, err := io.ReadFull(f, b)
	if n == 0 && fi.Size() == 0 {
		return true, nil
	}
	if err != nil || string(b) != header {
		return false, fmt.Errorf("database %s is not a SQLite file", path)
	}
	return true, nil
}

func create(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create database directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil // another process made it first
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", path, err)
	}
	return f.Close()
}

// tighten makes an existing database and its -wal and -shm files 0600 when
// others may read them (older versions left them to the umask).
func tighten(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("database %s: %w", p, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("database %s is readable by others and cannot be made 0600: %w", p, err)
			}
		}
	}
	return nil
}

// dsn sets what every connection needs: WAL so readers never block the
// writer, a busy timeout so that CLI commands writing the same file wait for
// the server instead of failing, synchronous=FULL because a ledger row must
// survive a power cut once its answer is sent, and immediate transactions so
// that a writer takes the write lock up front rather than failing mid-way.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

func (db *DB) prepare(ctx context.Context) error {
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = db.w.PrepareContext(ctx, q)
		if err != nil {
			err = fmt.Errorf("prepare %q: %w", q, err)
		}
		return s
	}
	db.insertLedger = prep(`INSERT INTO ledger (` + ledgerColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trace_id) DO NOTHING`)
	db.chargeQuota = prep(`UPDATE merchants SET quota_used = quota_used + 1
		WHERE app_key = ? AND (free_quota = 0 OR quota_used < free_quota)`)
	db.deleteLedger = prep(`DELETE FROM ledger WHERE trace_id = ?`)
	db.addDaily = prep(`INSERT INTO ledger_daily (app_key, day, code, calls, charged, upstream_charged)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (app_key, day, code) DO UPDATE SET calls = calls + excluded.calls,
		charged = charged + excluded.charged, upstream_charged = upstream_charged + excluded.upstream_charged`)
	return err
}

// Close closes both connection pools.
func (db *DB) Close() error {
	var errs []error
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	errs = append(errs, db.w.Close())
	return errors.Join(errs...)
}

// migrations are applied in order, each once, recorded in schema_migrations.
// Never edit a released migration: append a new one.
var migrations = []string{
	1: `
CREATE TABLE merchants (
	app_key       TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	secret_cipher BLOB NOT NULL,
	status        TEXT NOT NULL,
	expires_ns    INTEGER,
	services      TEXT NOT NULL,
	qps           REAL NOT NULL,
	burst         INTEGER NOT NULL,
	free_quota    INTEGER NOT NULL DEFAULT 0,
	quota_used    INTEGER NOT NULL DEFAULT 0,
	created_ns    INTEGER NOT NULL,
	updated_ns    INTEGER NOT NULL
);
CREATE TABLE ledger (
	trace_id   TEXT PRIMARY KEY,
	app_key    TEXT NOT NULL,
	request_id TEXT NOT NULL,
	code       TEXT NOT NULL,
	result     INTEGER NOT NULL,
	id_name    INTEGER NOT NULL,
	photo      INTEGER NOT NULL,
	score      REAL NOT NULL,
	reason     TEXT NOT NULL,
	digest     BLOB,
	charged    INTEGER NOT NULL,
	latency_us INTEGER NOT NULL,
	time_ns    INTEGER NOT NULL,
	id_masked  TEXT NOT NULL
);
CREATE INDEX ledger_by_merchant_time ON ledger (app_key, time_ns);
CREATE INDEX ledger_time ON ledger (time_ns);
CREATE INDEX ledger_answers ON ledger (app_key, request_id) WHERE digest IS NOT NULL;
CREATE TABLE identities (
	id_number       TEXT PRIMARY KEY,
	name            TEXT NOT NULL,
	photo_sha256    BLOB,
	template_status TEXT NOT NULL,
	template        BLOB,
	created_ns      INTEGER NOT NULL,
	updated_ns      INTEGER NOT NULL
);`,
	2: `
ALTER TABLE ledger ADD COLUMN upstream_trace_id TEXT NOT NULL DEFAULT '';
ALTER TABLE ledger ADD COLUMN upstream_charged INTEGER NOT NULL DEFAULT 0;`,
	3: `
ALTER TABLE merchants ADD COLUMN route TEXT NOT NULL DEFAULT '';`,
	// 4 keeps the sealed reference photo, and names each template's
	// descriptor in a column of its own, read for old rows from the
	// template's binary form (a length byte, then the name: SQLite has no
	// byte-to-integer function, hence the two hex digits looked up). Old
	// templates stay in clear (sealed 0) until the registry, which holds the
	// key, seals them; rows without a template have nothing to seal.
	4: `
ALTER TABLE identities ADD COLUMN photo_cipher BLOB;
ALTER TABLE identities ADD COLUMN template_model TEXT NOT NULL DEFAULT '';
ALTER TABLE identities ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
UPDATE identities SET template_model = CAST(substr(template, 2,
		(instr('0123456789ABCDEF', substr(hex(template), 1, 1)) - 1) * 16 +
		 instr('0123456789ABCDEF', substr(hex(template), 2, 1)) - 1) AS TEXT)
	WHERE template_status = 'ok' AND length(template) > 0;
UPDATE identities SET sealed = 1 WHERE template IS NULL;
CREATE INDEX identities_templates ON identities (template_model, template_status);
CREATE INDEX identities_unsealed ON identities (id_number) WHERE sealed = 0;`,
	// 5: the operators' console. ledger_daily keeps per-day totals as rows
	// are written, so that the dashboard and whole-day usage cost the same
	// at a million rows as at ten; the indexes serve the ledger search.
	5: `
CREATE INDEX ledger_request ON ledger (request_id);
CREATE INDEX ledger_code_time ON ledger (code, time_ns);
CREATE TABLE ledger_daily (
	app_key          TEXT NOT NULL,
	day              TEXT NOT NULL,
	code             TEXT NOT NULL,
	calls            INTEGER NOT NULL,
	charged          INTEGER NOT NULL,
	upstream_charged INTEGER NOT NULL,
	PRIMARY KEY (app_key, day, code)
) WITHOUT ROWID;
INSERT INTO ledger_daily
	SELECT app_key, strftime('%Y-%m-%d', time_ns / 1000000000, 'unixepoch'), code, count(*), sum(charged), sum(upstream_charged)
	FROM ledger GROUP BY 1, 2, 3;
CREATE INDEX ledger_daily_day ON ledger_daily (day);
CREATE TABLE operators (
	name          TEXT PRIMARY KEY,
	password_hash TEXT NOT NULL,
	created_ns    INTEGER NOT NULL,
	updated_ns    INTEGER NOT NULL
);
CREATE TABLE operator_sessions (
	token_hash BLOB PRIMARY KEY,
	operator   TEXT NOT NULL REFERENCES operators (name) ON DELETE CASCADE,
	csrf       TEXT NOT NULL,
	created_ns INTEGER NOT NULL,
	expires_ns INTEGER NOT NULL
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator);
CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_ns);
CREATE TABLE audit (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	time_ns  INTEGER NOT NULL,
	operator TEXT NOT NULL,
	action   TEXT NOT NULL,
	target   TEXT NOT NULL,
	detail   TEXT NOT NULL,
	remote   TEXT NOT NULL
);
CREATE INDEX audit_time ON audit (time_ns);`,
	// 6: the master key's check value (store.KeyCheck), one row.
	6: `
CREATE TABLE key_check (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	value BLOB NOT NULL
);`,
	// 7: merchants stored with a rate of +Inf or NaN (accepted before
	// settings were validated) become merchant.MaxQPS, the most a merchant
	// may have: their JSON could not be written, so the console and
	// merchant list --json failed on them.
	7: `UPDATE merchants SET qps = 1000000 WHERE NOT (qps > 0 AND qps <= 1000000)`,
}

// SetKeyCheck implements store.KeyCheck.
func (db *DB) SetKeyCheck(ctx context.Context, v []byte) ([]byte, error) {
	if _, err := db.w.ExecContext(ctx, `INSERT INTO key_check (id, value) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`, v); err != nil {
		return nil, fmt.Errorf("store key check: %w", err)
	}
	var stored []byte
	if err := db.w.QueryRowContext(ctx, `SELECT value FROM key_check WHERE id = 1`).Scan(&stored); err != nil {
		return nil, fmt.Errorf("read key check: %w", err)
	}
	return stored, nil
}

func migrate(ctx context.Context, w *sql.DB) error {
	if _, err := w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_ns INTEGER NOT NULL)`); err != nil {
		return err
	}
	for v := 1; v < len(migrations); v++ {
		if err := applyMigration(ctx, w, v); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return nil
}

// applyMigration checks and applies inside one immediate transaction, so two
// processes opening a new file at once cannot both apply the same version.
func applyMigration(ctx context.Context, w *sql.DB, v int) error {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_ns) VALUES (?, ?)`, v, time.Now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}

// SchemaVersion is the highest applied migration.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := db.r.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v)
	return int(v.Int64), err
}

func nanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// Ping reports whether the database file answers a query, for readiness.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface{ Scan(dest ...any) error }

// queryAll runs query on q and scans every row with scan, wrapping any
// error as "what: err". An empty result is a nil slice.
func queryAll[T any](ctx context.Context, q *sql.DB, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

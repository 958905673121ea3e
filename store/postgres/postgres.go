// Package postgres is the storage backend for several instances sharing one
// database: PostgreSQL through pgx, implementing store.Store, with versioned
// migrations applied when it is opened.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/portrait-id/portrait/store"
)

// Store is an open PostgreSQL store. The pool reconnects by itself, so a
// database restart costs the calls made while it is down and nothing more.
type Store struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// DefaultConnectTimeout bounds one connection attempt when the DSN sets no
// connect_timeout: while the database is unreachable, calls must fail fast
// rather than hang until their own deadline.
const DefaultConnectTimeout = 3 * time.Second

// DefaultStatementTimeout (milliseconds, PostgreSQL's unit) bounds one
// statement on the server: a call's deadline is 10 s, and no statement of a
// call may outlive it. Migrations at start are statements too; none comes
// near it.
const DefaultStatementTimeout = "10000"

// Open connects to the database named by dsn (a postgres:// URL or key=value
// string; pool_max_conns and the like are honoured) and applies pending
// migrations.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message echoes the DSN, password included when it cannot
		// tell where the password is: say only that it did not parse.
		return nil, errors.New("postgres: the DSN does not parse (expected postgres://user@host:port/db?options)")
	}
	if !strings.Contains(dsn, "connect_timeout") {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	// The server ends a statement that runs past a call's deadline even when
	// the client cannot reach it to cancel (a stalled network); the DSN may
	// set its own (options=-c%20statement_timeout%3D…).
	if _, ok := cfg.ConnConfig.RuntimeParams["statement_timeout"]; !ok && !strings.Contains(dsn, "statement_timeout") {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = DefaultStatementTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect %s: %w", cfg.ConnConfig.Host, err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping reports whether the database answers, for readiness checks.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// migrations are applied in order, each once, recorded in schema_migrations.
// Never edit a released migration: append a new one. Keys are COLLATE "C" so
// that listings are ordered by bytes, as with SQLite, whatever the database's
// locale.
var migrations = []string{
	1: `
CREATE TABLE merchants (
	app_key       text COLLATE "C" PRIMARY KEY,
	name          text NOT NULL,
	secret_cipher bytea NOT NULL,
	status        text NOT NULL,
	expires_at    timestamptz,
	services      text[] NOT NULL,
	qps           double precision NOT NULL,
	burst         integer NOT NULL,
	free_quota    bigint NOT NULL DEFAULT 0,
	quota_used    bigint NOT NULL DEFAULT 0,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL
);
CREATE TABLE ledger (
	trace_id   text COLLATE "C" PRIMARY KEY,
	app_key    text COLLATE "C" NOT NULL,
	request_id text NOT NULL,
	code       text NOT NULL,
	result     integer NOT NULL,
	id_name    integer NOT NULL,
	photo      integer NOT NULL,
	score      double precision NOT NULL,
	reason     text NOT NULL,
	digest     bytea,
	charged    boolean NOT NULL,
	latency_us bigint NOT NULL,
	time       timestamptz NOT NULL,
	id_masked  text NOT NULL
);
CREATE INDEX ledger_by_merchant_time ON ledger (app_key, time);
CREATE INDEX ledger_time ON ledger (time);
CREATE INDEX ledger_answers ON ledger (app_key, request_id) WHERE digest IS NOT NULL;
CREATE TABLE identities (
	id_number       text COLLATE "C" PRIMARY KEY,
	name            text NOT NULL,
	photo_sha256    bytea,
	template_status text NOT NULL,
	template        bytea,
	created_at      timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL
);`,
	2: `
ALTER TABLE ledger ADD COLUMN upstream_trace_id text NOT NULL DEFAULT '';
ALTER TABLE ledger ADD COLUMN upstream_charged boolean NOT NULL DEFAULT false;`,
	3: `
ALTER TABLE merchants ADD COLUMN route text NOT NULL DEFAULT '';`,
	// 4 keeps the sealed reference photo, and names each template's
	// descriptor in a column of its own, read for old rows from the
	// template's binary form (a length byte, then the name). Old templates
	// stay in clear (sealed false) until the registry, which holds the key,
	// seals them; rows without a template have nothing to seal.
	4: `
ALTER TABLE identities ADD COLUMN photo_cipher bytea;
ALTER TABLE identities ADD COLUMN template_model text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE identities ADD COLUMN sealed boolean NOT NULL DEFAULT false;
UPDATE identities SET template_model = convert_from(substring(template from 2 for get_byte(template, 0)), 'UTF8')
	WHERE template_status = 'ok' AND length(template) > 0;
UPDATE identities SET sealed = true WHERE template IS NULL;
CREATE INDEX identities_templates ON identities (template_model, template_status);
CREATE INDEX identities_unsealed ON identities (id_number) WHERE NOT sealed;`,
	// 5: the operators' console. ledger_daily keeps per-day totals as rows
	// are written, so that the dashboard and whole-day usage cost the same
	// at a million rows as at ten; the indexes serve the ledger search.
	5: `
CREATE INDEX ledger_request ON ledger (request_id);
CREATE INDEX ledger_code_time ON ledger (code, time);
CREATE TABLE ledger_daily (
	app_key          text COLLATE "C" NOT NULL,
	day              text COLLATE "C" NOT NULL,
	code             text COLLATE "C" NOT NULL,
	calls            bigint NOT NULL,
	charged          bigint NOT NULL,
	upstream_charged bigint NOT NULL,
	PRIMARY KEY (app_key, day, code)
);
INSERT INTO ledger_daily
	SELECT app_key, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD'), code, count(*),
		count(*) FILTER (WHERE charged), count(*) FILTER (WHERE upstream_charged)
	FROM ledger GROUP BY 1, 2, 3;
CREATE INDEX ledger_daily_day ON ledger_daily (day);
CREATE TABLE operators (
	name          text COLLATE "C" PRIMARY KEY,
	password_hash text NOT NULL,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL
);
CREATE TABLE operator_sessions (
	token_hash bytea PRIMARY KEY,
	operator   text COLLATE "C" NOT NULL REFERENCES operators (name) ON DELETE CASCADE,
	csrf       text NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator);
CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_at);
CREATE TABLE audit (
	id       bigserial PRIMARY KEY,
	time     timestamptz NOT NULL,
	operator text NOT NULL,
	action   text NOT NULL,
	target   text NOT NULL,
	detail   text NOT NULL,
	remote   text NOT NULL
);
CREATE INDEX audit_time ON audit (time);`,
	// 6: the master key's check value (store.KeyCheck), one row.
	6: `
CREATE TABLE key_check (
	id    integer PRIMARY KEY CHECK (id = 1),
	value bytea NOT NULL
);`,
	// 7: merchants stored with a rate of +Inf or NaN (accepted before
	// settings were validated) become merchant.MaxQPS, the most a merchant
	// may have: their JSON could not be written, so the console and
	// merchant list --json failed on them.
	7: `UPDATE merchants SET qps = 1000000 WHERE NOT (qps > 0 AND qps <= 1000000)`,
}

// SetKeyCheck implements store.KeyCheck.
func (s *Store) SetKeyCheck(ctx context.Context, v []byte) ([]byte, error) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO key_check (id, value) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, v); err != nil {
		return nil, fmt.Errorf("store key check: %w", err)
	}
	var stored []byte
	if err := s.pool.QueryRow(ctx, `SELECT value FROM key_check WHERE id = 1`).Scan(&stored); err != nil {
		return nil, fmt.Errorf("read key check: %w", err)
	}
	return stored, nil
}

// migrationLock is the advisory lock key under which instances starting at
// once take turns to migrate.
const migrationLock = 0x706f72747261 // "portra"

func (s *Store) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
			return err
		}
		if have >= len(migrations) {
			return fmt.Errorf("database schema version %d is newer than this binary's %d", have, len(migrations)-1)
		}
		for v := have + 1; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, v); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
		}
		return nil
	})
}

// SchemaVersion is the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// nullTime maps the zero time, which the domain uses for "never", to NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

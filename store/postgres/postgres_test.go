package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/store/postgres/pgtest"
	"github.com/portrait-id/portrait/store/storetest"
)

func openFresh(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), pgtest.FreshDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshDSN(t)
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMerchant(ctx, store.Merchant{AppKey: "pk_a", Name: "A", SecretCipher: []byte{1}, Status: store.StatusActive, QPS: 1, Burst: 1}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, dsn)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(migrations)-1 {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, len(migrations)-1)
	}
	if _, err := s.GetMerchant(ctx, "pk_a"); err != nil {
		t.Errorf("merchant lost across reopen: %v", err)
	}
}

func TestOpenErrorsHideThePassword(t *testing.T) {
	const password = "s3cr3t-pw"
	cases := []struct{ name, dsn string }{
		{"unparsable", "postgres://user:" + password + "@127.0.0.1:notaport/db"},
		{"unreachable", "postgres://user:" + password + "@127.0.0.1:1/db?sslmode=disable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			s, err := Open(context.Background(), c.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error shows the password: %v", err)
			}
			if d := time.Since(start); d > DefaultConnectTimeout+time.Second {
				t.Errorf("Open took %v to fail", d)
			}
		})
	}
}

// TestUpgradeFromVersion1 opens a database written before the upstream
// columns existed: its rows read back with no upstream call and the
// instance's default route, and its registry records with their
// descriptors named and their clear templates intact.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshDSN(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`,
		migrations[1],
		`INSERT INTO schema_migrations (version, applied_at) VALUES (1, now())`,
		`INSERT INTO merchants (app_key, name, secret_cipher, status, services, qps, burst, created_at, updated_at)
			VALUES ('pk_a', 'A', '\x01', 'active', '{}', 1, 1, now(), now()), ('pk_inf', 'Inf', '\x01', 'active', '{}', 'Infinity', 1000, now(), now())`,
		`INSERT INTO ledger (trace_id, app_key, request_id, code, result, id_name, photo, score, reason, charged, latency_us, time, id_masked)
			VALUES ('TID1', 'pk_a', 'r1', '0000', 1, 2, 0, 0, '', true, 10, now(), '')`,
		`INSERT INTO identities (id_number, name, photo_sha256, template_status, template, created_at, updated_at) VALUES
			('1', 'ok', '\xabababababababababababababababababababababababababababababababab', 'ok', '\x11666163656170692d7265736e65743132380000803f', now(), now()),
			('2', 'no face', '\xcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd', 'no_face', NULL, now(), now()),
			('3', 'no photo', NULL, 'none', NULL, now(), now())`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(ctx)
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(migrations)-1 {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, len(migrations)-1)
	}
	if m, err := s.GetMerchant(ctx, "pk_a"); err != nil || m.Route != "" || m.QPS != 1 {
		t.Errorf("merchant after upgrade: %+v, %v", m, err)
	}
	if m, err := s.GetMerchant(ctx, "pk_inf"); err != nil || m.QPS != 1_000_000 {
		t.Errorf("merchant stored with qps +Inf after upgrade: %+v, %v; want qps 1000000", m, err)
	}
	rows, err := s.ListLedger(ctx, store.LedgerFilter{})
	if err != nil || len(rows) != 1 || rows[0].TraceID != "TID1" || rows[0].UpstreamTraceID != "" || rows[0].UpstreamCharged {
		t.Errorf("ledger after upgrade: %+v, %v", rows, err)
	}
	storetest.CheckUpgradedIdentities(t, s)
	// The per-day totals start from the rows already there.
	usage, err := s.LedgerUsage(ctx, store.LedgerFilter{})
	if err != nil || len(usage) != 1 || usage[0].Calls != 1 || usage[0].Charged != 1 {
		t.Errorf("usage after upgrade: %+v, %v", usage, err)
	}
}

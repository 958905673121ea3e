package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "portrait.db"))
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "portrait.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateMerchant(ctx, store.Merchant{AppKey: "pk_a", Name: "A", SecretCipher: []byte{1}, Status: store.StatusActive, QPS: 1, Burst: 1}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if v, err := db.SchemaVersion(ctx); err != nil || v != len(migrations)-1 {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, len(migrations)-1)
	}
	if _, err := db.GetMerchant(ctx, "pk_a"); err != nil {
		t.Errorf("merchant lost across reopen: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file not at %s: %v", path, err)
	}
}

// TestQueriesUseTheirIndexes guards the replay lookup, run on every call
// that passes the policy, against walking a merchant's whole ledger, and
// serve's start-up count of templates per descriptor against reading every
// registry record.
func TestQueriesUseTheirIndexes(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		name, query string
		args        []any
		want        string
	}{
		{"replay lookup", findAnswerQuery, []any{"k", "r"}, "ledger_answers"},
		{"template count", countTemplatesQuery, nil, "COVERING INDEX identities_templates"},
	} {
		rows, err := db.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+c.query, c.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan strings.Builder
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(detail + "\n")
		}
		rows.Close()
		if !strings.Contains(plan.String(), c.want) {
			t.Errorf("%s plan does not use %s:\n%s", c.name, c.want, plan.String())
		}
	}
}

// TestUpgradeFromVersion1 opens a database written before the upstream
// columns existed: its rows read back with no upstream call and the
// instance's default route, and its registry records with their
// descriptors named and their clear templates intact.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_ns INTEGER NOT NULL)`,
		migrations[1],
		`INSERT INTO schema_migrations (version, applied_ns) VALUES (1, 0)`,
		`INSERT INTO merchants (app_key, name, secret_cipher, status, services, qps, burst, created_ns, updated_ns)
			VALUES ('pk_a', 'A', x'01', 'active', '', 1, 1, 0, 0), ('pk_inf', 'Inf', x'01', 'active', '', 9e999, 1000, 0, 0)`,
		`INSERT INTO ledger (trace_id, app_key, request_id, code, result, id_name, photo, score, reason, charged, latency_us, time_ns, id_masked)
			VALUES ('TID1', 'pk_a', 'r1', '0000', 1, 2, 0, 0, '', 1, 10, 0, '')`,
		`INSERT INTO identities (id_number, name, photo_sha256, template_status, template, created_ns, updated_ns) VALUES
			('1', 'ok', x'abababababababababababababababababababababababababababababababab', 'ok', x'11666163656170692d7265736e65743132380000803f', 0, 0),
			('2', 'no face', x'cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd', 'no_face', NULL, 0, 0),
			('3', 'no photo', NULL, 'none', NULL, 0, 0)`,
	} {
		if _, err := w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	w.Close()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer db.Close()
	if v, err := db.SchemaVersion(ctx); err != nil || v != len(migrations)-1 {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, len(migrations)-1)
	}
	if m, err := db.GetMerchant(ctx, "pk_a"); err != nil || m.Route != "" || m.QPS != 1 {
		t.Errorf("merchant after upgrade: %+v, %v", m, err)
	}
	if m, err := db.GetMerchant(ctx, "pk_inf"); err != nil || m.QPS != 1_000_000 {
		t.Errorf("merchant stored with qps +Inf after upgrade: %+v, %v; want qps 1000000", m, err)
	}
	rows, err := db.ListLedger(ctx, store.LedgerFilter{})
	if err != nil || len(rows) != 1 || rows[0].TraceID != "TID1" || rows[0].UpstreamTraceID != "" || rows[0].UpstreamCharged {
		t.Errorf("ledger after upgrade: %+v, %v", rows, err)
	}
	storetest.CheckUpgradedIdentities(t, db)
	// The per-day totals start from the rows already there.
	usage, err := db.LedgerUsage(ctx, store.LedgerFilter{})
	if err != nil || len(usage) != 1 || usage[0].Calls != 1 || usage[0].Charged != 1 {
		t.Errorf("usage after upgrade: %+v, %v", usage, err)
	}
}

package sqlite

import (
	"context"
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

// TestFindAnswerUsesItsIndex guards the replay lookup, run on every call
// that passes the policy, against walking a merchant's whole ledger.
func TestFindAnswerUsesItsIndex(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+findAnswerQuery, "k", "r")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(detail + "\n")
	}
	if !strings.Contains(plan.String(), "ledger_answers") {
		t.Errorf("replay lookup plan does not use ledger_answers:\n%s", plan.String())
	}
}

package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/store"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite the CLI's golden JSON files")

// TestLedgerJSONGolden pins `portrait ledger --json --rows`, which scripts
// and billing exports read.
func TestLedgerJSONGolden(t *testing.T) {
	cleanEnv(t)
	db := goldenLedger(t)
	checkGolden(t, "ledger.golden.json", mustRun(t, "ledger", "--db", db, "--rows", "--json", "--master-key-file", writeKey(t)))
}

// TestLedgerCSVGolden pins `portrait ledger --format csv`, the export an
// operator hands to a merchant in a dispute, and the console's CSV.
func TestLedgerCSVGolden(t *testing.T) {
	cleanEnv(t)
	db := goldenLedger(t)
	checkGolden(t, "ledger.golden.csv", mustRun(t, "ledger", "--db", db, "--format", "csv", "--master-key-file", writeKey(t)))
	one := mustRun(t, "ledger", "--db", db, "--format", "csv", "--trace-id", "TID00000000000000000000000000000002", "--master-key-file", writeKey(t))
	if lines := strings.Split(strings.TrimSpace(one), "\n"); len(lines) != 2 || !strings.Contains(lines[1], ",blur,") {
		t.Errorf("--trace-id csv:\n%s", one)
	}
}

// goldenLedger is a database holding three fixed calls.
func goldenLedger(t *testing.T) string {
	db := filepath.Join(t.TempDir(), "p.db")
	st, err := app.OpenStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := merchant.NewSealer(bytes.Repeat([]byte{0x42}, merchant.KeySize)) // writeKey's
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"pk_000000000000000000000001", "pk_000000000000000000000002"} {
		// Charged rows need their merchant: the quota use is taken with the row.
		m := store.Merchant{AppKey: key, Name: key, SecretCipher: sealer.Seal(key, "secret"), Status: store.StatusActive, QPS: 1, Burst: 1}
		if err := st.CreateMerchant(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 6, 30, 23, 59, 59, 0, time.UTC)
	rows := []store.LedgerRow{
		{TraceID: "TID00000000000000000000000000000001", AppKey: "pk_000000000000000000000001", RequestID: "order-1", Code: "0000",
			Result: 1, IDName: 1, Photo: 1, Score: 88.5, Digest: make([]byte, 32), Charged: true, Latency: 41250 * time.Microsecond,
			Time: at, IDMasked: "110105********002X", UpstreamTraceID: "TID0000000000000000000000000000000a", UpstreamCharged: true},
		{TraceID: "TID00000000000000000000000000000002", AppKey: "pk_000000000000000000000001", RequestID: "order-2", Code: "0000",
			Result: 2, Reason: "blur", Digest: make([]byte, 32), Latency: 30 * time.Millisecond, Time: at.Add(time.Second), IDMasked: "110105********002X"},
		// A request_id a spreadsheet would run as a formula.
		{TraceID: "TID00000000000000000000000000000004", AppKey: "pk_000000000000000000000001", RequestID: "=HYPERLINK(\"x\")", Code: "0000",
			Result: 1, IDName: 2, Latency: 5 * time.Millisecond, Time: at.Add(1500 * time.Millisecond), IDMasked: "110105********002X"},
		{TraceID: "TID00000000000000000000000000000003", AppKey: "pk_000000000000000000000002", RequestID: "x", Code: "1006",
			Latency: 120 * time.Microsecond, Time: at.Add(2 * time.Second), IDMasked: "4403********0013"},
	}
	if errs, err := st.AppendLedger(context.Background(), rows); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	st.Close()
	return db
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update-golden to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s changed:\n got %s\nwant %s", name, got, want)
	}
}

func writeKey(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(p, []byte("4242424242424242424242424242424242424242424242424242424242424242\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

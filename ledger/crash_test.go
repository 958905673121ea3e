package ledger_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portrait-id/portrait/ledger"
	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/store/sqlite"
)

// crashChildEnv makes the test binary act as a process recording rows until
// it is killed.
const crashChildEnv = "PORTRAIT_LEDGER_CRASH_CHILD_DB"

// TestKilledWriterLosesNothingAcknowledged runs a writer in a child process,
// SIGKILLs it mid-stream, and checks the file: every row the child was told
// is committed is there, and the merchant's quota use equals the charged rows
// present, so no kill can charge without a row or a row without its charge.
func TestKilledWriterLosesNothingAcknowledged(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	db := openDB(t, path)
	addMerchant(t, db, "pk_a", 0)
	db.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriterLosesNothingAcknowledged$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && len(acked) < 300 {
		if trace, ok := strings.CutPrefix(sc.Text(), "committed "); ok {
			acked[trace] = true
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("child acknowledged only %d rows before dying", len(acked))
	}

	db = openDB(t, path)
	defer db.Close()
	rows, err := db.ListLedger(ctx, store.LedgerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	present, charged := map[string]bool{}, int64(0)
	for _, r := range rows {
		present[r.TraceID] = true
		if r.Charged {
			charged++
		}
	}
	for trace := range acked {
		if !present[trace] {
			t.Errorf("row %s was acknowledged but is gone after the kill", trace)
		}
	}
	m, _ := db.GetMerchant(ctx, "pk_a")
	if m.QuotaUsed != charged {
		t.Errorf("quota use %d, charged rows %d: a kill split a charge from its row", m.QuotaUsed, charged)
	}
	t.Logf("%d acknowledged, %d present after SIGKILL", len(acked), len(rows))
}

// crashChild records rows from several goroutines forever, printing each
// acknowledged trace_id; the parent kills it.
func crashChild(path string) {
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	book := ledger.Open(db)
	out := make(chan string, 1024)
	for g := range 8 {
		go func() {
			for i := 0; ; i++ {
				trace := fmt.Sprintf("K%d-%d", g, i)
				if book.Record(ctx, row(trace, "pk_a", i%3 != 0, time.Now())) == nil {
					out <- trace
				}
			}
		}()
	}
	w := bufio.NewWriter(os.Stdout)
	for trace := range out {
		fmt.Fprintf(w, "committed %s\n", trace)
		w.Flush()
	}
}

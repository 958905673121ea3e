package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portrait-id/portrait/ledger"
	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/store/sqlite"
)

var ctx = context.Background()

func openDB(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func addMerchant(t *testing.T, db store.Merchants, key string, quota int64) {
	t.Helper()
	err := db.CreateMerchant(ctx, store.Merchant{AppKey: key, Name: key, SecretCipher: []byte{1}, Status: store.StatusActive, QPS: 1, Burst: 1, FreeQuota: quota})
	if err != nil {
		t.Fatal(err)
	}
}

func row(trace, key string, charged bool, at time.Time) store.LedgerRow {
	code, result := "0000", 1
	if !charged {
		code, result = "1002", 0
	}
	return store.LedgerRow{TraceID: trace, AppKey: key, RequestID: "r-" + trace, Code: code, Result: result, Charged: charged, Time: at, IDMasked: "110101********1234"}
}

// TestGroupCommitConcurrent records from many goroutines at once: every row
// lands, and a quota is never overrun.
func TestGroupCommitConcurrent(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "l.db"))
	defer db.Close()
	addMerchant(t, db, "pk_a", 150)
	book := ledger.Open(db)
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	now := time.Now()
	for g := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				err := book.Record(ctx, row(fmt.Sprintf("T%d-%d", g, i), "pk_a", i%2 == 0, now))
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, store.ErrQuotaExhausted):
					refused.Add(1)
				default:
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := book.Close(); err != nil {
		t.Fatal(err)
	}
	rows, _ := db.ListLedger(ctx, store.LedgerFilter{})
	m, _ := db.GetMerchant(ctx, "pk_a")
	if ok.Load() != 350 || refused.Load() != 50 || len(rows) != 350 || m.QuotaUsed != 150 {
		t.Errorf("ok %d refused %d rows %d used %d; want 350 50 350 150", ok.Load(), refused.Load(), len(rows), m.QuotaUsed)
	}
	if err := book.Record(ctx, row("late", "pk_a", false, now)); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("Record after Close: %v, want ErrClosed", err)
	}
}

// TestRecordedRowsSurviveACrash abandons the database without closing it,
// as a killed process would, and reopens the file: every row whose Record
// returned is there, with its quota use.
func TestRecordedRowsSurviveACrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	db := openDB(t, path)
	addMerchant(t, db, "pk_a", 0)
	book := ledger.Open(db)
	for i := range 20 {
		if err := book.Record(ctx, row(fmt.Sprintf("C%d", i), "pk_a", true, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	// No book.Close, no db.Close.
	again := openDB(t, path)
	defer again.Close()
	rows, _ := again.ListLedger(ctx, store.LedgerFilter{})
	m, _ := again.GetMerchant(ctx, "pk_a")
	if len(rows) != 20 || m.QuotaUsed != 20 {
		t.Errorf("after a crash: %d rows, quota use %d; want 20 and 20", len(rows), m.QuotaUsed)
	}
	book.Close()
	db.Close()
}

// slowStore blocks AppendLedger until released and fails batches of more
// than one row, to observe Record's waiting and the per-row retry.
type slowStore struct {
	store.Ledger
	gate    chan struct{}
	batches atomic.Int64
	mu      sync.Mutex
	written []string
}

func (s *slowStore) AppendLedger(ctx context.Context, rows []store.LedgerRow) ([]error, error) {
	<-s.gate
	s.batches.Add(1)
	if len(rows) > 1 {
		return nil, errors.New("batch refused")
	}
	if rows[0].TraceID == "bad" {
		return nil, errors.New("bad row")
	}
	s.mu.Lock()
	s.written = append(s.written, rows[0].TraceID)
	s.mu.Unlock()
	return []error{nil}, nil
}

func TestRecordWaitsForCommitEvenWhenCallerGivesUp(t *testing.T) {
	st := &slowStore{gate: make(chan struct{})}
	book := ledger.Open(st)
	cctx, cancel := context.WithCancel(ctx)
	res := make(chan error, 1)
	go func() { res <- book.Record(cctx, row("T1", "pk_a", true, time.Now())) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-res:
		t.Fatalf("Record returned %v before its row was committed", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(st.gate)
	if err := <-res; err != nil {
		t.Errorf("Record = %v after commit", err)
	}
	book.Close()
}

func TestFailedBatchRetriesRowsAlone(t *testing.T) {
	st := &slowStore{gate: make(chan struct{})}
	book := ledger.Open(st)
	var wg sync.WaitGroup
	errs := map[string]error{}
	var mu sync.Mutex
	for _, tr := range []string{"a", "bad", "c", "d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := book.Record(ctx, row(tr, "pk_a", false, time.Now()))
			mu.Lock()
			errs[tr] = err
			mu.Unlock()
		}()
	}
	time.Sleep(30 * time.Millisecond) // let them queue up into one batch
	close(st.gate)
	wg.Wait()
	book.Close()
	for tr, err := range errs {
		if (err != nil) != (tr == "bad") {
			t.Errorf("row %s: %v", tr, err)
		}
	}
	if len(st.written) != 3 {
		t.Errorf("written %v, want the three good rows", st.written)
	}
}

func TestUsage(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "u.db"))
	defer db.Close()
	addMerchant(t, db, "pk_a", 0)
	addMerchant(t, db, "pk_b", 0)
	book := ledger.Open(db)
	d1 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	d2 := d1.Add(24 * time.Hour)
	for _, r := range []store.LedgerRow{
		row("1", "pk_a", true, d1), row("2", "pk_a", true, d1), row("3", "pk_a", false, d1),
		row("4", "pk_a", false, d2), row("5", "pk_b", true, d2),
	} {
		if err := book.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	book.Close()
	got, err := ledger.Usage(ctx, db, store.LedgerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.DayUsage{
		{AppKey: "pk_a", Day: "2026-05-01", Calls: 3, Charged: 2, ByCode: map[string]int64{"0000": 2, "1002": 1}},
		{AppKey: "pk_a", Day: "2026-05-02", Calls: 1, Charged: 0, ByCode: map[string]int64{"1002": 1}},
		{AppKey: "pk_b", Day: "2026-05-02", Calls: 1, Charged: 1, ByCode: map[string]int64{"0000": 1}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("usage:\n got %+v\nwant %+v", got, want)
	}
}

// A row still queued at its deadline, behind a transaction that the store
// holds, is answered at its deadline and never written, even once the store
// lets the writer go on.
func TestRowQueuedPastItsDeadline(t *testing.T) {
	st := &slowStore{gate: make(chan struct{})}
	book := ledger.Open(st)
	held := make(chan error, 1)
	go func() { held <- book.Record(ctx, row("held", "pk_a", false, time.Now())) }()
	// Let the writer take the held row into AppendLedger, where the gate
	// holds it; the row has no deadline, so nothing else ends it.
	time.Sleep(20 * time.Millisecond)
	const deadline = 100 * time.Millisecond
	dctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	start := time.Now()
	err := book.Record(dctx, row("late", "pk_a", false, time.Now()))
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > deadline+500*time.Millisecond {
		t.Fatalf("Record = %v after %v; want a deadline error within %v", err, took, deadline)
	}
	close(st.gate)
	if err := <-held; err != nil {
		t.Errorf("the held row: %v", err)
	}
	book.Close()
	if len(st.written) != 1 || st.written[0] != "held" {
		t.Errorf("written %v; want only the held row", st.written)
	}
}

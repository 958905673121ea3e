package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/internal/testkit"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/models"
	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/store/postgres/pgtest"
)

var (
	binaryOnce sync.Once
	binaryDir  string
	binary     string
	binaryErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

// portraitBinary builds cmd/portrait once for the package: the signal tests
// run the server as an operator does, as its own process.
func portraitBinary(t *testing.T) string {
	t.Helper()
	if models.Check(models.DefaultDir()) != nil {
		t.Skip("face models not fetched (portrait models fetch)")
	}
	binaryOnce.Do(func() {
		binaryDir, binaryErr = os.MkdirTemp("", "portrait-cluster-")
		if binaryErr != nil {
			return
		}
		binary = filepath.Join(binaryDir, "portrait")
		out, err := exec.Command("go", "build", "-o", binary, "github.com/portrait-id/portrait/cmd/portrait").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binary
}

// server is one `portrait serve` process.
type server struct {
	cmd  *exec.Cmd
	url  string
	done chan error
	logs *testkit.SyncBuffer
}

func startServer(t *testing.T, db string, flags ...string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &server{url: "http://" + addr, done: make(chan error, 1), logs: &testkit.SyncBuffer{}}
	s.cmd = exec.Command(portraitBinary(t), append([]string{"serve", "--db", db, "--create", "--addr", addr}, flags...)...)
	s.cmd.Env = append(os.Environ(), "PORTRAIT_MASTER_KEY="+masterKey)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			t.Logf("server logs:\n%s", s.logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case err := <-s.done:
			t.Fatalf("portrait serve exited at start: %v\n%s", err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("portrait serve not listening after 60 s:\n%s", s.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// received is what one client saw of one call.
type received struct {
	traceID string
	charged bool
}

// load sends calls from workers until stop is closed, then until the first
// call without an answer (the server is gone); it returns every answer.
func load(c *client.Client, req client.Request, workers int, stop <-chan struct{}) []received {
	var (
		mu  sync.Mutex
		got []received
		wg  sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				cctx, cancel := context.WithTimeout(ctx, 40*time.Second)
				r, err := c.Verify(cctx, req)
				cancel()
				if err != nil {
					select {
					case <-stop:
						return
					default:
						time.Sleep(10 * time.Millisecond)
						continue
					}
				}
				mu.Lock()
				got = append(got, received{r.TraceID, r.Charged()})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return got
}

// ledgerAgrees checks the ledger against the answers: every answer a client
// received as charged has its charged row, and no trace_id is recorded
// twice. Rows without a received answer are allowed only when allowLost
// (the server was killed between commit and reply).
func ledgerAgrees(t *testing.T, st store.Store, appKey string, got []received, allowLost bool) {
	t.Helper()
	rows, err := st.ListLedger(ctx, store.LedgerFilter{AppKey: appKey})
	if err != nil {
		t.Fatal(err)
	}
	rowCharged := map[string]bool{}
	for _, r := range rows {
		if _, dup := rowCharged[r.TraceID]; dup {
			t.Errorf("trace_id %s recorded twice", r.TraceID)
		}
		rowCharged[r.TraceID] = r.Charged
	}
	charged := 0
	for _, g := range got {
		if !g.charged {
			continue
		}
		charged++
		if !rowCharged[g.traceID] {
			t.Errorf("charged answer %s has no charged ledger row", g.traceID)
		}
	}
	if charged == 0 {
		t.Fatal("no charged answer: the load did not run")
	}
	var rowsCharged int
	for _, c := range rowCharged {
		if c {
			rowsCharged++
		}
	}
	if rowsCharged != charged && !allowLost {
		t.Errorf("%d charged rows, %d charged answers received", rowsCharged, charged)
	}
	m, err := st.GetMerchant(ctx, appKey)
	if err != nil {
		t.Fatal(err)
	}
	if m.QuotaUsed != int64(rowsCharged) {
		t.Errorf("QuotaUsed %d, %d charged rows", m.QuotaUsed, rowsCharged)
	}
	t.Logf("%d answers, %d charged, %d ledger rows (%d charged)", len(got), charged, len(rows), rowsCharged)
}

// backends are the databases the signal tests run on.
func backends(t *testing.T) []struct{ name, db string } {
	return []struct{ name, db string }{
		{"sqlite", filepath.Join(t.TempDir(), "portrait.db")},
		{"postgres", ""}, // a fresh schema, made inside the subtest
	}
}

// prepare creates the merchant and the registered person (no reference
// photo, so that every call is charged without depending on the score
// calibration) in db, and returns the merchant's client for url.
func prepare(t *testing.T, db string) (appKey, secret string) {
	t.Helper()
	a, err := app.Open(ctx, app.Config{DB: db, MasterKey: masterKey, Faces: app.FacesNone, Notices: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	set := merchant.NewSettings("signals")
	set.QPS, set.Burst = 10000, 10000
	created, err := a.Merchants.Create(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Registry.Add(ctx, idNumber, name, nil); err != nil {
		t.Fatal(err)
	}
	return created.Merchant.AppKey, created.Secret
}

func openStore(t *testing.T, db string) store.Store {
	t.Helper()
	st, err := app.OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestSIGTERMDuringLoad stops a loaded server the way an orchestrator does:
// it stops accepting, finishes the calls in flight and exits 0, and every
// answer a client received as charged has its ledger row.
func TestSIGTERMDuringLoad(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			db := b.db
			if db == "" {
				db = pgtest.FreshDSN(t)
			}
			key, secret := prepare(t, db)
			srv := startServer(t, db)
			c := client.New(srv.url, key, secret)
			req := client.Request{IDNumber: idNumber, Name: name, Selfie: selfie(t)}
			stop := make(chan struct{})
			var got []received
			loaded := make(chan struct{})
			go func() { got = load(c, req, 6, stop); close(loaded) }()
			time.Sleep(1500 * time.Millisecond)
			close(stop)
			srv.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-srv.done:
				srv.done <- err // for the cleanup
				if err != nil {
					t.Errorf("portrait serve after SIGTERM: %v", err)
				}
			case <-time.After(40 * time.Second):
				t.Fatal("portrait serve still running 40 s after SIGTERM")
			}
			<-loaded
			ledgerAgrees(t, openStore(t, db), key, got, false)
		})
	}
}

// TestSIGKILLDuringLoad kills a loaded server outright, restarts it on the
// same database and checks that no charged answer lacks its row, no row is
// duplicated, and the restarted server answers.
func TestSIGKILLDuringLoad(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			db := b.db
			if db == "" {
				db = pgtest.FreshDSN(t)
			}
			key, secret := prepare(t, db)
			srv := startServer(t, db)
			req := client.Request{IDNumber: idNumber, Name: name, Selfie: selfie(t)}
			stop := make(chan struct{})
			var got []received
			loaded := make(chan struct{})
			go func() { got = load(client.New(srv.url, key, secret), req, 6, stop); close(loaded) }()
			time.Sleep(1500 * time.Millisecond)
			close(stop)
			srv.cmd.Process.Kill()
			<-loaded

			again := startServer(t, db)
			r, err := client.New(again.url, key, secret).Verify(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if r.Code != client.CodeOK || !r.Charged() {
				t.Errorf("after restart: %s", r.Raw)
			}
			got = append(got, received{r.TraceID, r.Charged()})
			ledgerAgrees(t, openStore(t, db), key, got, true)
		})
	}
}

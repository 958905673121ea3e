package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/store/storetest"
)

// freshDSN creates an empty schema for one test and returns a DSN whose
// search_path points at it, so that tests sharing one server never see each
// other's rows. The schema is dropped when the test ends.
func freshDSN(t *testing.T) string {
	t.Helper()
	base := os.Getenv("PORTRAIT_TEST_POSTGRES")
	if base == "" {
		t.Skip("PORTRAIT_TEST_POSTGRES is not set (a postgres:// URL of a throwaway server; .ci/run sets it)")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to PORTRAIT_TEST_POSTGRES: %v", err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func openFresh(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), freshDSN(t))
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
	dsn := freshDSN(t)
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

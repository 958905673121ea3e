package e2e

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/portrait-id/portrait/api"
	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/identity"
)

// downSupplier is an identity supplier that never answers, as one that has
// gone away behind a load balancer does.
type downSupplier struct{}

func (downSupplier) Lookup(ctx context.Context, _ identity.Query) (identity.Result, error) {
	<-ctx.Done()
	return identity.Result{}, ctx.Err()
}

// 2000: the service assembled with an identity source that times out
// answers 2000, uncharged, within its identity timeout.
func TestSupplierDown(t *testing.T) {
	w := getWorld(t)
	w.needFaces(t)
	const timeout = 300 * time.Millisecond
	a, err := app.OpenWith(context.Background(), app.Config{
		DB: w.db, ModelsDir: w.modelsD, Notices: io.Discard,
		IdentityTimeout: timeout, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}, app.Seams{Source: downSupplier{}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer("", a.Handler())
	go srv.Serve(ln)
	defer srv.Close()

	start := time.Now()
	r, err := client.New("http://"+ln.Addr().String(), w.main.appKey, w.main.secret).Verify(context.Background(),
		client.Request{IDNumber: idWithPhoto, Name: nameWithPhoto, Selfie: w.faces.same})
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != client.CodeSupplier || r.Charged() {
		t.Fatalf("answer %s", r.Raw)
	}
	if d := time.Since(start); d > timeout+2*time.Second {
		t.Errorf("answered after %s", d)
	}
	checkGolden(t, "2000_identity_source_down", r.Raw)
}

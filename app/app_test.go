package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/face/calibration"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/models"
	"github.com/portrait-id/portrait/sign"
	"github.com/portrait-id/portrait/store"
)

var ctx = context.Background()

const idMatch = "11010519491231002X"

// stubFaces embeds every selfie to the same template; it stands for the
// pipeline where the test is about the wiring, not about faces.
type stubFaces struct{}

func (stubFaces) Probe(context.Context, []byte) (face.Template, error) {
	return face.Template{Model: "stub", Vector: []float32{1, 0}}, nil
}
func (stubFaces) Score(face.Template, face.Template) (float64, error) { return 91.234, nil }
func (stubFaces) Enroll(context.Context, []byte) (face.Template, error) {
	return face.Template{Model: "stub", Vector: []float32{1, 0}}, nil
}
func (stubFaces) Model() string { return "stub" }

func TestKeyGeneratedBesideDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "data", "portrait.db")
	var notice bytes.Buffer
	a, err := app.Open(ctx, app.Config{DB: db, Faces: app.FacesNone, Notices: &notice})
	if err != nil {
		t.Fatal(err)
	}
	created, err := a.Merchants.Create(ctx, merchant.NewSettings("m"))
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	st, err := os.Stat(db + ".key")
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", st, err)
	}
	if !strings.Contains(notice.String(), db+".key") {
		t.Errorf("no notice naming the generated key: %q", notice.String())
	}

	// A second process on the same file uses the same key, silently.
	notice.Reset()
	a, err = app.Open(ctx, app.Config{DB: db, Faces: app.FacesNone, Notices: &notice})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if notice.Len() != 0 {
		t.Errorf("notice on reuse: %q", notice.String())
	}
	c := call(created.Merchant.AppKey, created.Secret)
	if _, err := a.Merchants.Authenticate(ctx, c); err != nil {
		t.Errorf("secret unreadable after reopening: %v", err)
	}
}

// A wrong master key is refused at start, not answered 9999 on every call
// (issue 12 item 9): the database keeps a check value of its key.
func TestWrongMasterKeyRefusedAtStart(t *testing.T) {
	for _, withMerchant := range []bool{false, true} {
		db := filepath.Join(t.TempDir(), "p.db")
		a, err := app.Open(ctx, app.Config{DB: db, Faces: app.FacesNone, Notices: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if withMerchant {
			a.Merchants.Create(ctx, merchant.NewSettings("m"))
		}
		a.Close()
		_, err = app.Open(ctx, app.Config{DB: db, Faces: app.FacesNone, MasterKey: strings.Repeat("ab", 32)})
		if !errors.Is(err, merchant.ErrMasterKey) {
			t.Errorf("wrong key (merchant %v): %v, want ErrMasterKey", withMerchant, err)
		}
	}
}

func TestPostgresNeedsAKey(t *testing.T) {
	_, err := app.Open(ctx, app.Config{DB: "postgres://u:secret@localhost/portrait", Faces: app.FacesNone})
	if !errors.Is(err, app.ErrNoMasterKey) {
		t.Errorf("postgres without key: %v, want ErrNoMasterKey", err)
	}
	_, err = app.Open(ctx, app.Config{DB: "postgres://u:secret@localhost/portrait", Faces: app.FacesNone, MasterKey: strings.Repeat("ab", 32)})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("postgres error %v: want an error that hides the password", err)
	}
}

func call(appKey, secret string) merchant.Call {
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	c := merchant.Call{AppKey: appKey, Signed: []string{appKey, idMatch, "张三", "r", ts},
		Timestamp: ts, Service: merchant.ServicePortrait, Now: time.Now()}
	c.Sign = sign.Compute(appKey, idMatch, "张三", "r", ts, secret)
	return c
}

type response struct {
	TraceID string          `json:"trace_id"`
	Code    string          `json:"code"`
	Msg     string          `json:"msg"`
	Charge  int             `json:"charge"`
	Data    json.RawMessage `json:"data"`
}

func post(t *testing.T, srv *httptest.Server, appKey, secret, requestID, id, name string, selfie []byte) response {
	t.Helper()
	return newSigned(appKey, secret, requestID, id, name, selfie).post(t, srv)
}

// TestServeOverHTTP runs calls through the real handler, store and ledger
// (faces stubbed), and checks that the ledger agrees with the answers.
func TestServeOverHTTP(t *testing.T) {
	db := filepath.Join(t.TempDir(), "p.db")
	a, err := app.OpenWith(ctx, app.Config{DB: db,
		Notices: io.Discard, Logger: discardLogger()}, app.Seams{Faces: stubFaces{}, Enroller: stubFaces{}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	m, err := a.Merchants.Create(ctx, merchant.NewSettings("shop"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Registry.Add(ctx, idMatch, "张三", []byte("photo")); err != nil {
		t.Fatal(err)
	}
	key, secret := m.Merchant.AppKey, m.Secret

	r := post(t, srv, key, secret, "req-1", idMatch, "张三", []byte("selfie"))
	if r.Code != "0000" || r.Charge != 1 || string(r.Data) != `{"result":1,"id_name":1,"photo":1,"score":91.23}` {
		t.Errorf("match: %+v %s", r, r.Data)
	}
	again := post(t, srv, key, secret, "req-1", idMatch, "张三", []byte("selfie"))
	if again.TraceID != r.TraceID || again.Charge != 1 || string(again.Data) != string(r.Data) {
		t.Errorf("replay %+v, want %+v", again, r)
	}
	reused := post(t, srv, key, secret, "req-1", idMatch, "张三", []byte("other"))
	if reused.Code != "1002" || reused.TraceID == r.TraceID {
		t.Errorf("reuse: %+v", reused)
	}
	bad := post(t, srv, key, "wrong", "req-2", idMatch, "张三", []byte("selfie"))
	if bad.Code != "1000" {
		t.Errorf("bad signature: %+v", bad)
	}
	unknown := post(t, srv, "pk_nobody", secret, "req-3", idMatch, "张三", []byte("selfie"))
	if unknown.Code != "1009" {
		t.Errorf("unknown key: %+v", unknown)
	}

	rows, err := a.Store.ListLedger(ctx, store.LedgerFilter{AppKey: key})
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, row := range rows {
		codes = append(codes, fmt.Sprintf("%s/%v", row.Code, row.Charged))
	}
	if strings.Join(codes, " ") != "0000/true 1002/false 1000/false" {
		t.Errorf("ledger %v, want one row per call of the known merchant, the replay not repeated", codes)
	}
}

// TestRealPipeline wires the real face models: a registry photo is enrolled
// once, and a selfie with several people fails the quality gate.
func TestRealPipeline(t *testing.T) {
	dir := models.DefaultDir()
	if err := models.Check(dir); err != nil {
		t.Skipf("models not fetched (%v): run `portrait models fetch`", err)
	}
	photo, err := os.ReadFile(models.Path(dir, "face-api", "demo/sample1.jpg"))
	if err != nil {
		t.Skipf("sample photo: %v", err)
	}
	a, err := app.Open(ctx, app.Config{DB: filepath.Join(t.TempDir(), "p.db"), Notices: io.Discard, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rec, err := a.Registry.Add(ctx, idMatch, "张三", photo)
	if err != nil || rec.TemplateStatus != store.TemplateOK || rec.TemplateModel == "" {
		t.Fatalf("enroll: %+v, %v", rec, err)
	}
	m, _ := a.Merchants.Create(ctx, merchant.NewSettings("shop"))
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	r := post(t, srv, m.Merchant.AppKey, m.Secret, "req-1", idMatch, "张三", photo)
	if r.Code != "0000" || r.Charge != 2 || string(r.Data) != `{"result":2,"reason":"multiple_faces"}` {
		t.Errorf("group photo as selfie: %+v %s", r, r.Data)
	}
	if _, err := app.OpenFaces(t.TempDir(), ""); !errors.Is(err, models.ErrMissing) || !strings.Contains(err.Error(), models.FetchCommand) {
		t.Errorf("empty models dir: %v, want ErrMissing naming %q", err, models.FetchCommand)
	}
	if _, err := app.OpenFaces("", face.EmbedFaceResRGB); !errors.Is(err, calibration.ErrNoTable) {
		t.Errorf("uncalibrated embedding: %v, want calibration.ErrNoTable", err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

package app_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/store"
)

// TestOpenSealsLegacyTemplates: a registry record written before templates
// were sealed is sealed by the first open holding the right key, never by
// one holding another key, and answers lookups throughout.
func TestOpenSealsLegacyTemplates(t *testing.T) {
	db := filepath.Join(t.TempDir(), "p.db")
	a, err := app.Open(ctx, app.Config{DB: db, Faces: app.FacesNone, Notices: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Merchants.Create(ctx, merchant.NewSettings("m")); err != nil {
		t.Fatal(err)
	}
	tmpl := face.Template{Model: "old", Vector: []float32{1, 2}}
	clear, _ := tmpl.MarshalBinary()
	if err := a.Store.PutIdentity(ctx, store.Identity{IDNumber: idMatch, Name: "张三", PhotoSHA256: bytes.Repeat([]byte{1}, 32),
		TemplateStatus: store.TemplateOK, TemplateModel: "old", Template: clear}); err != nil {
		t.Fatal(err)
	}
	a.Close()

	_, err = app.Open(ctx, app.Config{DB: db, Faces: app.FacesNone, Notices: io.Discard, MasterKey: hex.EncodeToString(bytes.Repeat([]byte{9}, 32))})
	if !errors.Is(err, merchant.ErrMasterKey) {
		t.Errorf("open under another key: %v, want a refusal naming the master key", err)
	}
	var notice bytes.Buffer
	a, err = app.Open(ctx, app.Config{DB: db, Faces: app.FacesNone, Notices: &notice})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !strings.Contains(notice.String(), "sealed 1 registry templates") {
		t.Errorf("notice %q", notice.String())
	}
	raw, _ := a.Store.GetIdentity(ctx, idMatch)
	if !raw.Sealed || bytes.Equal(raw.Template, clear) {
		t.Errorf("template not sealed: %+v", raw)
	}
	if res, err := a.Registry.Lookup(ctx, identity.Query{IDNumber: idMatch, Name: "张三"}); err != nil || !res.Usable || res.Template.Model != "old" {
		t.Errorf("Lookup after sealing = %+v, %v", res, err)
	}
}

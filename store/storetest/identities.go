package storetest

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/portrait-id/portrait/store"
)

func testIdentityCRUD(t *testing.T, s store.Store) {
	const id = "11010119900307663X"
	if _, err := s.GetIdentity(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetIdentity(missing) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteIdentity(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteIdentity(missing) = %v, want ErrNotFound", err)
	}
	rec := store.Identity{
		IDNumber: id, Name: "买买提·艾力", TemplateStatus: store.TemplateNone, Sealed: true,
		CreatedAt: base, UpdatedAt: base,
	}
	if err := s.PutIdentity(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetIdentity(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	assertIdentity(t, got, rec)

	upd := rec
	upd.Name = "张三"
	upd.PhotoSHA256 = bytes.Repeat([]byte{1}, 32)
	upd.Photo = []byte("sealed photo")
	upd.TemplateStatus = store.TemplateOK
	upd.TemplateModel = "mod"
	upd.Template = []byte("sealed template")
	upd.CreatedAt = base.Add(time.Hour) // ignored: a replaced record keeps its creation time
	upd.UpdatedAt = base.Add(time.Hour)
	if err := s.PutIdentity(ctx, upd); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetIdentity(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := upd
	want.CreatedAt = base
	want.PhotoKept = true
	assertIdentity(t, got, want)

	if err := s.DeleteIdentity(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetIdentity(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetIdentity after delete = %v, want ErrNotFound", err)
	}
}

func assertIdentity(t *testing.T, got, want store.Identity) {
	t.Helper()
	if got.IDNumber != want.IDNumber || got.Name != want.Name || !bytes.Equal(got.PhotoSHA256, want.PhotoSHA256) ||
		!bytes.Equal(got.Photo, want.Photo) || got.PhotoKept != want.PhotoKept ||
		got.TemplateStatus != want.TemplateStatus || got.TemplateModel != want.TemplateModel ||
		!bytes.Equal(got.Template, want.Template) || got.Sealed != want.Sealed ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("identity:\n got %+v\nwant %+v", got, want)
	}
}

// putIdentities stores one record per ID number, with a kept photo and a
// template of model m for every other one and clear (unsealed) templates
// for those ending in 9.
func putIdentities(t *testing.T, s store.Store, m string, ids ...string) {
	t.Helper()
	for i, id := range ids {
		rec := store.Identity{IDNumber: id, Name: "n" + id, TemplateStatus: store.TemplateNone, Sealed: true, CreatedAt: base, UpdatedAt: base}
		if i%2 == 0 {
			rec.PhotoSHA256, rec.Photo = bytes.Repeat([]byte{byte(i)}, 32), []byte("photo "+id)
			rec.TemplateStatus, rec.TemplateModel, rec.Template = store.TemplateOK, m, []byte("tmpl "+id)
		}
		if id[len(id)-1] == '9' {
			rec.Sealed = false
		}
		if err := s.PutIdentity(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
}

func testIdentityList(t *testing.T, s store.Store) {
	// Stored out of order, with LIKE's wildcards in two of them, which a
	// prefix must match as themselves.
	putIdentities(t, s, "m", "3301", "1101", "1109", "1102", "110%", "11_0", "1201", "11")
	ids := func(f store.IdentityFilter) []string {
		t.Helper()
		recs, err := s.ListIdentities(ctx, f)
		if err != nil {
			t.Fatalf("ListIdentities(%+v): %v", f, err)
		}
		out := []string{}
		for _, r := range recs {
			out = append(out, r.IDNumber)
			if r.Photo != nil || r.Template != nil {
				t.Errorf("ListIdentities returned %s's photo or template", r.IDNumber)
			}
		}
		return out
	}
	cases := []struct {
		f    store.IdentityFilter
		want []string
	}{
		{store.IdentityFilter{}, []string{"11", "110%", "1101", "1102", "1109", "11_0", "1201", "3301"}},
		{store.IdentityFilter{IDPrefix: "110"}, []string{"110%", "1101", "1102", "1109"}},
		{store.IdentityFilter{IDPrefix: "110%"}, []string{"110%"}},
		{store.IdentityFilter{IDPrefix: "11_"}, []string{"11_0"}},
		{store.IdentityFilter{IDPrefix: "9"}, []string{}},
		{store.IdentityFilter{IDPrefix: "11", After: "1102"}, []string{"1109", "11_0"}},
		{store.IdentityFilter{IDPrefix: "11", Limit: 2}, []string{"11", "110%"}},
		{store.IdentityFilter{IDPrefix: "11", Limit: 2, Offset: 2}, []string{"1101", "1102"}},
		{store.IdentityFilter{Offset: 7}, []string{"3301"}},
		{store.IdentityFilter{Offset: 8}, []string{}},
		{store.IdentityFilter{After: "1201", Limit: 5}, []string{"3301"}},
		{store.IdentityFilter{Unsealed: true}, []string{"1109"}},
	}
	for _, c := range cases {
		if got := ids(c.f); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ListIdentities(%+v) = %q, want %q", c.f, got, c.want)
		}
	}
	recs, err := s.ListIdentities(ctx, store.IdentityFilter{IDPrefix: "3301"})
	if err != nil || len(recs) != 1 {
		t.Fatalf("ListIdentities(3301) = %+v, %v", recs, err)
	}
	want := store.Identity{IDNumber: "3301", Name: "n3301", PhotoSHA256: bytes.Repeat([]byte{0}, 32), PhotoKept: true,
		TemplateStatus: store.TemplateOK, TemplateModel: "m", Sealed: true, CreatedAt: base, UpdatedAt: base}
	assertIdentity(t, recs[0], want)
}

func testIdentityCountTemplates(t *testing.T, s store.Store) {
	if got, err := s.CountTemplates(ctx); err != nil || len(got) != 0 {
		t.Errorf("CountTemplates(empty) = %+v, %v", got, err)
	}
	putIdentities(t, s, "old", "1", "2", "3", "4", "5")
	putIdentities(t, s, "new", "6", "7", "8")
	got, err := s.CountTemplates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.TemplateCount{
		{Model: "", Status: store.TemplateNone, Count: 3},
		{Model: "new", Status: store.TemplateOK, Count: 2},
		{Model: "old", Status: store.TemplateOK, Count: 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CountTemplates = %+v, want %+v", got, want)
	}
}

func testIdentityUpdateTemplate(t *testing.T, s store.Store) {
	putIdentities(t, s, "old", "1", "2")
	before, err := s.GetIdentity(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	upd := store.Identity{IDNumber: "1", PhotoSHA256: before.PhotoSHA256, TemplateStatus: store.TemplateNoFace, TemplateModel: "new", Sealed: true,
		Name: "ignored", Photo: []byte("ignored")}
	if err := s.UpdateTemplate(ctx, upd); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetIdentity(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	want := before
	want.TemplateStatus, want.TemplateModel, want.Template = store.TemplateNoFace, "new", nil
	want.UpdatedAt = got.UpdatedAt
	assertIdentity(t, got, want)
	if !got.UpdatedAt.After(before.UpdatedAt) {
		t.Errorf("UpdatedAt %v not moved past %v", got.UpdatedAt, before.UpdatedAt)
	}

	// A template of a photo the record no longer holds is not written.
	stale := upd
	stale.PhotoSHA256 = bytes.Repeat([]byte{9}, 32)
	stale.TemplateStatus, stale.Template = store.TemplateOK, []byte("stale")
	if err := s.UpdateTemplate(ctx, stale); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateTemplate(other photo) = %v, want ErrNotFound", err)
	}
	// Record 2 has no photo: only a template "of no photo" matches it.
	if err := s.UpdateTemplate(ctx, store.Identity{IDNumber: "2", PhotoSHA256: before.PhotoSHA256, TemplateStatus: store.TemplateOK}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateTemplate(photo on a record without) = %v, want ErrNotFound", err)
	}
	if err := s.UpdateTemplate(ctx, store.Identity{IDNumber: "2", TemplateStatus: store.TemplateNone, Sealed: true}); err != nil {
		t.Errorf("UpdateTemplate(no photo on a record without) = %v", err)
	}
	if err := s.UpdateTemplate(ctx, store.Identity{IDNumber: "3", TemplateStatus: store.TemplateNone}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateTemplate(missing) = %v, want ErrNotFound", err)
	}
	if got, _ := s.GetIdentity(ctx, "1"); got.TemplateStatus != store.TemplateNoFace || got.Template != nil {
		t.Errorf("refused updates changed the record: %+v", got)
	}
}

// CheckUpgradedIdentities checks what a backend's upgrade test stored in a
// database of schema version 1, before photos were kept and templates
// sealed: '1' with a clear template of faceapi-resnet128 (the vector {1}),
// '2' with a photo without a face, '3' without a photo. Every record must
// read back as it was, the template's descriptor named from its binary
// form, and only '1' left for the registry to seal.
func CheckUpgradedIdentities(t *testing.T, s store.Store) {
	t.Helper()
	tmpl := append([]byte{17}, "faceapi-resnet128\x00\x00\x80\x3f"...)
	want := []store.Identity{
		{IDNumber: "1", Name: "ok", PhotoSHA256: bytes.Repeat([]byte{0xab}, 32), TemplateStatus: store.TemplateOK, TemplateModel: "faceapi-resnet128", Template: tmpl},
		{IDNumber: "2", Name: "no face", PhotoSHA256: bytes.Repeat([]byte{0xcd}, 32), TemplateStatus: store.TemplateNoFace, Sealed: true},
		{IDNumber: "3", Name: "no photo", TemplateStatus: store.TemplateNone, Sealed: true},
	}
	for _, w := range want {
		got, err := s.GetIdentity(ctx, w.IDNumber)
		if err != nil {
			t.Fatal(err)
		}
		w.CreatedAt, w.UpdatedAt = got.CreatedAt, got.UpdatedAt
		assertIdentity(t, got, w)
	}
	unsealed, err := s.ListIdentities(ctx, store.IdentityFilter{Unsealed: true})
	if err != nil || len(unsealed) != 1 || unsealed[0].IDNumber != "1" {
		t.Errorf("unsealed after upgrade: %+v, %v; want only 1", unsealed, err)
	}
}

package identity_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/idcard"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/store/postgres"
	"github.com/portrait-id/portrait/store/postgres/pgtest"
)

// eachBackend runs f on an empty store of each backend: SQLite, and
// PostgreSQL when pgtest's server is configured (skipped otherwise).
func eachBackend(t *testing.T, f func(t *testing.T, db store.Store)) {
	t.Run("sqlite", func(t *testing.T) { f(t, openDB(t)) })
	t.Run("postgres", func(t *testing.T) {
		db, err := postgres.Open(ctx, pgtest.FreshDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		f(t, db)
	})
}

// validID completes a 17-digit prefix with its check character, found by
// asking the validator rather than by a second copy of its rule.
func validID(t testing.TB, prefix17 string) string {
	t.Helper()
	for _, c := range "0123456789X" {
		if id, err := idcard.ValidateID(prefix17+string(c), time.Now()); err == nil {
			return id
		}
	}
	t.Fatalf("no check character completes %s", prefix17)
	return ""
}

func TestPhotoAndTemplateSealed(t *testing.T) { eachBackend(t, testPhotoAndTemplateSealed) }

func testPhotoAndTemplateSealed(t *testing.T, db store.Store) {
	reg := identity.NewRegistry(db, &fakeEnroller{}, testSealer(t))
	photo := []byte("F a reference photo")
	if _, err := reg.Add(ctx, idX, "张三", photo); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Add(ctx, id2, "李四", []byte("F another photo, longer")); err != nil {
		t.Fatal(err)
	}
	raw, err := db.GetIdentity(ctx, idX)
	if err != nil {
		t.Fatal(err)
	}
	clear, _ := face.Template{Model: "test", Vector: []float32{float32(len(photo)), 1}}.MarshalBinary()
	if !raw.Sealed || raw.TemplateModel != "test" || !raw.PhotoKept ||
		bytes.Contains(raw.Photo, photo[2:]) || bytes.Contains(raw.Template, clear[1:]) {
		t.Errorf("stored record is not sealed: %+v", raw)
	}
	if res, err := reg.Lookup(ctx, identity.Query{IDNumber: idX, Name: "张三"}); err != nil || !res.Usable || res.Template.Model != "test" {
		t.Errorf("Lookup of a sealed record = %+v, %v", res, err)
	}

	// Under another key, and with a sealed template moved onto another
	// record, the template does not open: the call fails as unavailable
	// rather than comparing with something else.
	otherKey, _ := merchant.NewSealer(bytes.Repeat([]byte{8}, merchant.KeySize))
	if _, err := identity.NewRegistry(db, nil, otherKey).Lookup(ctx, identity.Query{IDNumber: idX, Name: "张三"}); !errors.Is(err, identity.ErrUnavailable) || !errors.Is(err, merchant.ErrMasterKey) {
		t.Errorf("Lookup under another key: %v, want ErrUnavailable and ErrMasterKey", err)
	}
	moved, _ := db.GetIdentity(ctx, id2)
	moved.Template = raw.Template
	if err := db.PutIdentity(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Lookup(ctx, identity.Query{IDNumber: id2, Name: "李四"}); !errors.Is(err, identity.ErrUnavailable) {
		t.Errorf("Lookup of a template moved from another record: %v, want ErrUnavailable", err)
	}
}

func TestWithoutPhotos(t *testing.T) {
	db := openDB(t)
	keep := identity.NewRegistry(db, &fakeEnroller{}, testSealer(t))
	drop := keep.WithoutPhotos()
	photo := []byte("Fphoto")
	rec, err := drop.Add(ctx, idX, "张三", photo)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := db.GetIdentity(ctx, idX)
	if rec.PhotoKept || raw.Photo != nil || raw.PhotoKept || rec.TemplateStatus != store.TemplateOK {
		t.Errorf("photo kept although opted out: %+v / %+v", rec, raw)
	}
	// Has tells an import what is up to date as this registry stores it:
	// a record without its photo is not, for a registry keeping photos.
	for _, c := range []struct {
		reg  *identity.Registry
		want bool
	}{{drop, true}, {keep, false}} {
		if got, err := c.reg.Has(ctx, idX, "张三", sha(photo)); err != nil || got != c.want {
			t.Errorf("Has = %v, %v; want %v", got, err, c.want)
		}
	}
	if _, err := keep.Add(ctx, idX, "张三", photo); err != nil {
		t.Fatal(err)
	}
	if got, _ := drop.Has(ctx, idX, "张三", sha(photo)); got {
		t.Error("a registry dropping photos takes a record with its photo kept as up to date")
	}
	// Another descriptor's template is not up to date either.
	other := identity.NewRegistry(db, &fakeEnroller{model: "other"}, testSealer(t))
	if got, _ := other.Has(ctx, idX, "张三", sha(photo)); got {
		t.Error("Has takes another descriptor's template as up to date")
	}
}

// TestSealLegacy: a record written before sealing (clear template) keeps
// answering, and SealLegacy seals it once.
func TestSealLegacy(t *testing.T) { eachBackend(t, testSealLegacy) }

func testSealLegacy(t *testing.T, db store.Store) {
	reg := identity.NewRegistry(db, &fakeEnroller{}, testSealer(t))
	tmpl := face.Template{Model: "old", Vector: []float32{3, 4}}
	clear, _ := tmpl.MarshalBinary()
	legacy := store.Identity{IDNumber: idX, Name: "张三", PhotoSHA256: sha([]byte("p")), TemplateStatus: store.TemplateOK,
		TemplateModel: "old", Template: clear}
	if err := db.PutIdentity(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	want := identity.Result{Found: true, NameMatch: true, HasPhoto: true, Usable: true, Template: tmpl}
	for round := range 2 {
		if res, err := reg.Lookup(ctx, identity.Query{IDNumber: idX, Name: "张三"}); err != nil || fmt.Sprint(res) != fmt.Sprint(want) {
			t.Errorf("round %d: Lookup = %+v, %v; want %+v", round, res, err, want)
		}
		n, err := reg.SealLegacy(ctx)
		if err != nil || n != 1-round {
			t.Errorf("round %d: SealLegacy = %d, %v; want %d", round, n, err, 1-round)
		}
		raw, _ := db.GetIdentity(ctx, idX)
		if !raw.Sealed || bytes.Equal(raw.Template, clear) || raw.TemplateModel != "old" {
			t.Errorf("round %d: after SealLegacy %+v", round, raw)
		}
	}
}

func TestCheckDescriptor(t *testing.T) {
	db := openDB(t)
	old := identity.NewRegistry(db, &fakeEnroller{model: "old"}, testSealer(t))
	for i, p := range []string{"Fa", "Fb", "Nc"} {
		if _, err := old.Add(ctx, validID(t, fmt.Sprintf("11010119900307%03d", i)), "张三", []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.Add(ctx, id2, "李四", nil); err != nil {
		t.Fatal(err)
	}
	if err := old.CheckDescriptor(ctx); err != nil {
		t.Errorf("registry of its own descriptor refused: %v", err)
	}
	err := identity.NewRegistry(db, &fakeEnroller{model: "new"}, testSealer(t)).CheckDescriptor(ctx)
	if !errors.Is(err, identity.ErrOtherDescriptor) || !strings.Contains(err.Error(), "`portrait identity reembed --embedding new`") ||
		!strings.Contains(err.Error(), "2 by old") || !strings.Contains(err.Error(), "keep serving with --embedding old") {
		t.Errorf("CheckDescriptor after a change of descriptor: %v", err)
	}
}

// TestReembedResumes stops a re-embedding part-way and runs it again: the
// second run enrolls only what the first did not, and the registry ends
// with every kept photo's template made by the new descriptor.
func TestReembedResumes(t *testing.T) { eachBackend(t, testReembedResumes) }

func testReembedResumes(t *testing.T, db store.Store) {
	seal := testSealer(t)
	old := identity.NewRegistry(db, &fakeEnroller{model: "old"}, seal)
	const n = 40
	var notKept []string
	for i := range n {
		id := validID(t, fmt.Sprintf("11010119900307%03d", i))
		reg, photo := old, fmt.Sprintf("F photo %d", i)
		switch {
		case i%10 == 3:
			photo = "N" + photo // no face, for either descriptor
		case i%10 == 7:
			reg = old.WithoutPhotos()
			notKept = append(notKept, idcard.MaskID(id))
		}
		if _, err := reg.Add(ctx, id, "张三", []byte(photo)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.Add(ctx, id2, "李四", nil); err != nil {
		t.Fatal(err)
	}

	enr := &fakeEnroller{model: "new"}
	reg := identity.NewRegistry(db, enr, seal)
	stopAt := 15
	cctx, cancel := context.WithCancel(ctx)
	var totals []int
	_, err := reg.Reembed(cctx, func(done, total int) {
		totals = append(totals, total)
		if done == stopAt {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped Reembed: %v, want context.Canceled", err)
	}
	if totals[0] != n {
		t.Errorf("progress total %d, want %d (every record with a photo)", totals[0], n)
	}
	first := enr.calls.Load()
	counts, _ := db.CountTemplates(ctx)
	madeNew := 0
	for _, c := range counts {
		if c.Model == "new" {
			madeNew += int(c.Count)
		}
	}
	if madeNew == 0 || madeNew >= n-len(notKept) || int64(madeNew) > first {
		t.Fatalf("after the stopped run: %d records made by new with %d enrollments (%+v)", madeNew, first, counts)
	}

	sum, err := reg.Reembed(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if enr.calls.Load()-first != int64(n-len(notKept)-madeNew) {
		t.Errorf("resumed run enrolled %d photos, want the %d left", enr.calls.Load()-first, n-len(notKept)-madeNew)
	}
	if sum.Current != madeNew || sum.Reembedded+sum.NoFace != n-len(notKept)-madeNew || sum.Model != "new" ||
		strings.Join(sum.NotKept, ",") != strings.Join(notKept, ",") || len(sum.Unreadable) != 0 || sum.Changed != 0 {
		t.Errorf("resumed run: %+v (made before %d, not kept %q)", sum, madeNew, notKept)
	}
	res, err := reg.Lookup(ctx, identity.Query{IDNumber: validID(t, "11010119900307000"), Name: "张三"})
	if err != nil || !res.Usable || res.Template.Model != "new" {
		t.Errorf("Lookup after Reembed = %+v, %v", res, err)
	}
	// Only the records without a kept photo still hold old templates.
	if err := reg.CheckDescriptor(ctx); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d by old", len(notKept))) {
		t.Errorf("CheckDescriptor after Reembed: %v, want the %d records without photos named", err, len(notKept))
	}
	again, err := reg.Reembed(ctx, nil)
	if err != nil || again.Reembedded != 0 || again.Current != n-len(notKept) || len(again.NotKept) != len(notKept) {
		t.Errorf("third run: %+v, %v; want everything current", again, err)
	}
}

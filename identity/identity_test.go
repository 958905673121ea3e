package identity_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/store/sqlite"
)

var ctx = context.Background()

// Valid GB 11643 numbers (check digits computed).
const (
	idX = "11010519491231002X"
	id2 = "110101199003071233"
)

// fakeEnroller reads the photo's first byte as what the real pipeline would
// find: 'F' a face, 'N' no face, anything else not an image. Its templates
// are of its model ("test" unless set), so that tests can switch
// descriptors.
type fakeEnroller struct {
	model string
	calls atomic.Int64
}

func (f *fakeEnroller) Model() string {
	if f.model == "" {
		return "test"
	}
	return f.model
}

func (f *fakeEnroller) Enroll(_ context.Context, img []byte) (face.Template, error) {
	f.calls.Add(1)
	switch {
	case bytes.HasPrefix(img, []byte("F")):
		return face.Template{Model: f.Model(), Vector: []float32{float32(len(img)), 1}}, nil
	case bytes.HasPrefix(img, []byte("N")):
		return face.Template{}, fmt.Errorf("%w: no face found", face.ErrNoUsableFace)
	}
	// As face.Pipeline.Enroll wraps its analysis' errors.
	return face.Template{}, fmt.Errorf("%w: %w", face.ErrNoUsableFace, fmt.Errorf("%w: not a JPG", face.ErrImage))
}

func testSealer(t testing.TB) *merchant.Sealer {
	s, err := merchant.NewSealer(bytes.Repeat([]byte{7}, merchant.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openDB(t *testing.T) *sqlite.DB {
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newRegistry(t *testing.T) (*identity.Registry, *fakeEnroller) {
	e := &fakeEnroller{}
	return identity.NewRegistry(openDB(t), e, testSealer(t)), e
}

func TestLookupShapes(t *testing.T) {
	reg, _ := newRegistry(t)
	if _, err := reg.Add(ctx, idX, "张三", []byte("Fphoto")); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Add(ctx, id2, "买买提·艾力", nil); err != nil {
		t.Fatal(err)
	}
	tmpl := face.Template{Model: "test", Vector: []float32{6, 1}}
	cases := []struct {
		id, name string
		want     identity.Result
	}{
		{idX, "张三", identity.Result{Found: true, NameMatch: true, HasPhoto: true, Usable: true, Template: tmpl}},
		{idX, " 张三 ", identity.Result{Found: true, NameMatch: true, HasPhoto: true, Usable: true, Template: tmpl}},
		{idX, "李四", identity.Result{Found: true}},
		{idX, "张", identity.Result{Found: true}},
		{id2, "买买提·艾力", identity.Result{Found: true, NameMatch: true}},
		{"440304198501010013", "张三", identity.Result{}},
	}
	for _, c := range cases {
		got, err := reg.Lookup(ctx, identity.Query{IDNumber: c.id, Name: c.name})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Lookup(%s, %q) = %+v, want %+v", c.id, c.name, got, c.want)
		}
	}
}

func TestAddPhotoOutcomes(t *testing.T) {
	reg, enr := newRegistry(t)
	rec, err := reg.Add(ctx, "11010519491231002x", "张三", []byte("Nphoto"))
	if err != nil {
		t.Fatalf("a photo without a face must still be stored: %v", err)
	}
	if rec.IDNumber != idX || rec.TemplateStatus != store.TemplateNoFace || len(rec.PhotoSHA256) != 64 {
		t.Errorf("record %+v", rec)
	}
	res, _ := reg.Lookup(ctx, identity.Query{IDNumber: idX, Name: "张三"})
	if !res.HasPhoto || res.Usable {
		t.Errorf("no-face photo looks up as %+v, want photo present but unusable", res)
	}
	if _, err := reg.Add(ctx, id2, "李四", []byte("garbage")); !errors.Is(err, face.ErrImage) {
		t.Errorf("undecodable photo: %v, want ErrImage", err)
	}
	if _, err := reg.Get(ctx, id2); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("refused photo left a record: %v", err)
	}
	if _, err := reg.Add(ctx, "110101199003071235", "李四", nil); err == nil {
		t.Error("bad check digit accepted")
	}
	if _, err := reg.Add(ctx, id2, "", nil); err == nil {
		t.Error("empty name accepted")
	}
	big := append([]byte("F"), make([]byte, identity.MaxPhotoBytes)...)
	if _, err := reg.Add(ctx, id2, "李四", big); !errors.Is(err, identity.ErrPhotoTooLarge) {
		t.Errorf("photo over MaxPhotoBytes: %v, want ErrPhotoTooLarge", err)
	}
	if enr.calls.Load() != 2 {
		t.Errorf("enroller called %d times, want once per photo", enr.calls.Load())
	}
	noPipeline := identity.NewRegistry(nil, nil, nil)
	if _, err := noPipeline.Add(ctx, id2, "李四", []byte("F")); !errors.Is(err, identity.ErrNoPipeline) {
		t.Errorf("photo without pipeline: %v", err)
	}
}

func TestHasGetRemove(t *testing.T) {
	reg, _ := newRegistry(t)
	photo := []byte("Fphoto")
	if _, err := reg.Add(ctx, idX, "张三", photo); err != nil {
		t.Fatal(err)
	}
	sum := sha(photo)
	for _, c := range []struct {
		name  string
		photo []byte
		want  bool
	}{{"张三", sum, true}, {"张三", nil, false}, {"李四", sum, false}, {"张三", sha([]byte("Fother")), false}} {
		if got, err := reg.Has(ctx, "11010519491231002x", c.name, c.photo); err != nil || got != c.want {
			t.Errorf("Has(%q, %x) = %v, %v; want %v", c.name, c.photo, got, err, c.want)
		}
	}
	rec, err := reg.Get(ctx, idX)
	if err != nil || rec.Name != "张三" || rec.TemplateModel != "test" {
		t.Errorf("Get = %+v, %v", rec, err)
	}
	if err := reg.Remove(ctx, idX); err != nil {
		t.Fatal(err)
	}
	if err := reg.Remove(ctx, idX); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("second Remove: %v", err)
	}
	if res, _ := reg.Lookup(ctx, identity.Query{IDNumber: idX, Name: "张三"}); res.Found {
		t.Error("removed record still found")
	}
}

type brokenStore struct{ store.Identities }

func (brokenStore) GetIdentity(context.Context, string) (store.Identity, error) {
	return store.Identity{}, errors.New("disk on fire")
}

func TestLookupFailureIsUnavailable(t *testing.T) {
	reg := identity.NewRegistry(brokenStore{}, nil, nil)
	if _, err := reg.Lookup(ctx, identity.Query{IDNumber: idX, Name: "张三"}); !errors.Is(err, identity.ErrUnavailable) {
		t.Errorf("Lookup on a failing store: %v, want ErrUnavailable", err)
	}
}

func sha(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/idcard"
	"github.com/portrait-id/portrait/store"
)

// ErrNotFound is an ID number the registry does not hold (CLI show/remove;
// a lookup answers it as Result{Found: false}, not as an error).
var ErrNotFound = errors.New("identity not in registry")

// ErrNoPipeline is a photo given to a registry opened without a face
// pipeline to enroll it.
var ErrNoPipeline = errors.New("no face pipeline to enroll the photo")

// Result is what a source knows of an ID number and a name.
type Result struct {
	Found     bool // the source holds the ID number
	NameMatch bool // and the name given is the holder's
	HasPhoto  bool // and it has a reference photo
	Usable    bool // from which a face template could be extracted
	Template  face.Template
}

// Source answers lookups: the embedded Registry, or an upstream supplier. A
// source that fails or times out returns an error; callers answer it as
// ErrUnavailable.
type Source interface {
	Lookup(ctx context.Context, idNumber, name string) (Result, error)
}

// Enroller turns a reference photo into a template once, when the photo is
// added (face.Pipeline.Enroll). Its errors wrap face.ErrImage for a file that
// is not a usable image, or face.ErrNoUsableFace for an image with no face.
type Enroller interface {
	Enroll(ctx context.Context, img []byte) (face.Template, error)
}

// Registry is the embedded identity source. It keeps, per ID number, the
// name and, when a photo was given, the photo's SHA-256 and face template:
// never the photo itself, which is all the comparison needs and much less to
// hold on behalf of the people in it.
type Registry struct {
	st     store.Identities
	enroll Enroller
}

// NewRegistry returns a registry over st; enroll may be nil for uses that add
// no photos (lookups, show, remove).
func NewRegistry(st store.Identities, enroll Enroller) *Registry {
	return &Registry{st: st, enroll: enroll}
}

// Lookup implements Source. Names are compared exactly after trimming
// surrounding white space: registry names are the ID card's, and any looser
// rule (case, width, middle-dot variants) would let a different name pass.
func (r *Registry) Lookup(ctx context.Context, idNumber, name string) (Result, error) {
	rec, err := r.st.GetIdentity(ctx, idNumber)
	if errors.Is(err, store.ErrNotFound) {
		return Result{}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	res := Result{Found: true, NameMatch: strings.TrimSpace(rec.Name) == strings.TrimSpace(name)}
	if !res.NameMatch {
		return res, nil
	}
	res.HasPhoto = rec.PhotoSHA256 != nil
	if rec.TemplateStatus == store.TemplateOK {
		if err := res.Template.UnmarshalBinary(rec.Template); err != nil {
			return Result{}, fmt.Errorf("%w: stored template of %s: %w", ErrUnavailable, idcard.MaskID(idNumber), err)
		}
		res.Usable = true
	}
	return res, nil
}

// Record is a registry record as shown to an operator.
type Record struct {
	IDNumber       string    `json:"id_number"`
	Name           string    `json:"name"`
	PhotoSHA256    string    `json:"photo_sha256,omitempty"`
	TemplateStatus string    `json:"template_status"`
	TemplateModel  string    `json:"template_model,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func recordOf(rec store.Identity) Record {
	out := Record{IDNumber: rec.IDNumber, Name: rec.Name, TemplateStatus: rec.TemplateStatus, CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt}
	if rec.PhotoSHA256 != nil {
		out.PhotoSHA256 = hex.EncodeToString(rec.PhotoSHA256)
	}
	if rec.TemplateStatus == store.TemplateOK {
		out.TemplateModel = rec.TemplateModel
	}
	return out
}

// Add creates or replaces the record of idNumber (validated and normalised,
// x as X). A photo is enrolled now; one in which no usable face is found is
// still recorded, with TemplateStatus no_face (lookups answer photo 3), and
// the caller decides whether to warn. A file that is not a usable image is
// refused.
func (r *Registry) Add(ctx context.Context, idNumber, name string, photo []byte) (Record, error) {
	id, err := idcard.ValidateID(idNumber, time.Now())
	if err != nil {
		return Record{}, fmt.Errorf("id_number %s: %w", idcard.MaskID(idNumber), err)
	}
	name = strings.TrimSpace(name)
	if err := idcard.ValidateName(name); err != nil {
		return Record{}, fmt.Errorf("name: %w", err)
	}
	rec := store.Identity{IDNumber: id, Name: name, TemplateStatus: store.TemplateNone}
	if photo != nil {
		sum := sha256.Sum256(photo)
		rec.PhotoSHA256 = sum[:]
		if rec.TemplateStatus, rec.TemplateModel, rec.Template, err = r.enrolled(ctx, photo); err != nil {
			return Record{}, fmt.Errorf("photo of %s: %w", idcard.MaskID(id), err)
		}
	}
	if err := r.st.PutIdentity(ctx, rec); err != nil {
		return Record{}, err
	}
	stored, err := r.st.GetIdentity(ctx, id)
	if err != nil {
		return Record{}, err
	}
	return recordOf(stored), nil
}

func (r *Registry) enrolled(ctx context.Context, photo []byte) (status, model string, template []byte, err error) {
	if r.enroll == nil {
		return "", "", nil, ErrNoPipeline
	}
	t, err := r.enroll.Enroll(ctx, photo)
	switch {
	case errors.Is(err, face.ErrImage):
		return "", "", nil, err
	case errors.Is(err, face.ErrNoUsableFace):
		return store.TemplateNoFace, "", nil, nil
	case err != nil:
		return "", "", nil, err
	}
	b, err := t.MarshalBinary()
	if err != nil {
		return "", "", nil, err
	}
	return store.TemplateOK, t.Model, b, nil
}

// Get returns the record of idNumber, or ErrNotFound.
func (r *Registry) Get(ctx context.Context, idNumber string) (Record, error) {
	rec, err := r.st.GetIdentity(ctx, normalise(idNumber))
	if errors.Is(err, store.ErrNotFound) {
		return Record{}, fmt.Errorf("%s: %w", idcard.MaskID(idNumber), ErrNotFound)
	}
	if err != nil {
		return Record{}, err
	}
	return recordOf(rec), nil
}

// Has reports whether the registry already holds idNumber with this name and
// a photo of this SHA-256 (nil: no photo), so that a resumed import can skip
// the row without enrolling the photo again.
func (r *Registry) Has(ctx context.Context, idNumber, name string, photoSHA256 []byte) (bool, error) {
	rec, err := r.st.GetIdentity(ctx, normalise(idNumber))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return rec.Name == strings.TrimSpace(name) && string(rec.PhotoSHA256) == string(photoSHA256), nil
}

// Remove deletes the record of idNumber, or returns ErrNotFound.
func (r *Registry) Remove(ctx context.Context, idNumber string) error {
	err := r.st.DeleteIdentity(ctx, normalise(idNumber))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s: %w", idcard.MaskID(idNumber), ErrNotFound)
	}
	return err
}

// normalise applies the one normalisation ValidateID makes (x as X), so that
// show and remove find what add stored even for input Add would refuse.
func normalise(idNumber string) string {
	return strings.ToUpper(strings.TrimSpace(idNumber))
}

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

// MaxPhotoBytes bounds a reference photo, kept sealed in the registry: four
// times a selfie's limit, for the scans and phone photos operators hold.
const MaxPhotoBytes = 8 << 20

// ErrPhotoTooLarge is a reference photo over MaxPhotoBytes.
var ErrPhotoTooLarge = fmt.Errorf("reference photo over %d MiB", MaxPhotoBytes>>20)

// Query is one lookup: the ID number and name, and what a source that
// verifies by itself (an upstream supplier speaking this same API) needs of
// the call besides.
type Query struct {
	TraceID  string // unique per call and the same for its replays
	IDNumber string // normalised by idcard.ValidateID
	Name     string // normalised by idcard.NormalizeName
	Selfie   []byte // as the merchant sent it; past our quality gate
	Route    string // the merchant's own route (store.Merchant.Route); "": the source's default
}

// Result is what a source knows of an ID number and a name: a reference
// template to compare with, or, when Scored, a comparison the source made
// itself.
type Result struct {
	Found     bool // the source holds the ID number
	NameMatch bool // and the name given is the holder's
	HasPhoto  bool // and it has a reference photo
	Usable    bool // from which a face template could be extracted
	Template  face.Template
	Scored    bool    // Score comes from the source; there is no Template
	Score     float64 // calibrated 0..100, when Scored
	// Upstream is the supplier's call behind the result, when one was
	// made. A source sets it beside an error too when the supplier
	// answered (it may have billed a call we cannot use).
	Upstream UpstreamCall
}

// UpstreamCall is what a supplier said of its bill for one call, recorded
// beside our own row so that an operator can reconcile both bills.
type UpstreamCall struct {
	TraceID string // the supplier's trace_id; "" when it was not asked or did not answer
	Charged bool   // the supplier's charge was 1
}

// Source answers lookups: the embedded Registry, an upstream supplier, or a
// router choosing between them. A source that fails or times out returns an
// error, which callers answer as ErrUnavailable; a source with a quality
// gate of its own may return a *face.QualityError (result 2, as with ours).
type Source interface {
	Lookup(ctx context.Context, q Query) (Result, error)
}

// Enroller turns a reference photo into a template of the descriptor Model
// names (face.Pipeline). Enroll's errors wrap face.ErrImage for a file that
// is not a usable image, or face.ErrNoUsableFace for an image with no face.
type Enroller interface {
	Enroll(ctx context.Context, img []byte) (face.Template, error)
	Model() string
}

// Sealer seals biometric data at rest, bound to what it belongs to
// (merchant.Sealer: AES-GCM under the master key, as for app_secrets).
type Sealer interface {
	SealBytes(ad string, plain []byte) []byte
	OpenBytes(ad string, sealed []byte) ([]byte, error)
}

// Registry is the embedded identity source. It keeps, per ID number, the
// name and, when a photo was given, the photo's SHA-256 and face template,
// both sealed, and the photo itself, sealed, unless the operator opts out:
// a kept photo is what lets the registry move to another descriptor
// (Reembed) without the operator finding every photo again.
type Registry struct {
	st        store.Identities
	enroll    Enroller
	seal      Sealer
	dropPhoto bool
}

// NewRegistry returns a registry over st, sealing with seal; enroll may be
// nil for uses that add no photos (lookups, show, remove).
func NewRegistry(st store.Identities, enroll Enroller, seal Sealer) *Registry {
	return &Registry{st: st, enroll: enroll, seal: seal}
}

// WithoutPhotos returns a registry like r whose Add keeps only the photo's
// SHA-256 and template, not the photo: less held on behalf of the people
// in it, at the price that their records cannot be re-embedded when the
// descriptor changes (a new photo must be added instead).
func (r *Registry) WithoutPhotos() *Registry {
	c := *r
	c.dropPhoto = true
	return &c
}

// The additional data binding a sealed photo or template to its record.
func photoAD(id string) string    { return "identity photo " + id }
func templateAD(id string) string { return "identity template " + id }

// template returns rec's template, opening it unless the record predates
// sealing (SealLegacy seals those).
func (r *Registry) template(rec store.Identity) (face.Template, error) {
	b := rec.Template
	if rec.Sealed {
		var err error
		if b, err = r.seal.OpenBytes(templateAD(rec.IDNumber), rec.Template); err != nil {
			return face.Template{}, fmt.Errorf("stored template of %s: %w", idcard.MaskID(rec.IDNumber), err)
		}
	}
	var t face.Template
	if err := t.UnmarshalBinary(b); err != nil {
		return face.Template{}, fmt.Errorf("stored template of %s: %w", idcard.MaskID(rec.IDNumber), err)
	}
	return t, nil
}

// Lookup implements Source. Names are compared in idcard.NormalizeName's
// form, both sides: spellings of one name (a bullet for the middle dot, NFD,
// full-width letters, case, doubled spaces) match, and records stored before
// names were normalised match as well.
func (r *Registry) Lookup(ctx context.Context, q Query) (Result, error) {
	rec, err := r.st.GetIdentity(ctx, q.IDNumber)
	if errors.Is(err, store.ErrNotFound) {
		return Result{}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	res := Result{Found: true, NameMatch: idcard.NormalizeName(rec.Name) == idcard.NormalizeName(q.Name)}
	if !res.NameMatch {
		return res, nil
	}
	res.HasPhoto = rec.PhotoSHA256 != nil
	if rec.TemplateStatus == store.TemplateOK {
		if res.Template, err = r.template(rec); err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
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
	PhotoKept      bool      `json:"photo_kept"`
	TemplateStatus string    `json:"template_status"`
	TemplateModel  string    `json:"template_model,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func recordOf(rec store.Identity) Record {
	out := Record{IDNumber: rec.IDNumber, Name: rec.Name, PhotoKept: rec.PhotoKept, TemplateStatus: rec.TemplateStatus,
		TemplateModel: rec.TemplateModel, CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt}
	if rec.PhotoSHA256 != nil {
		out.PhotoSHA256 = hex.EncodeToString(rec.PhotoSHA256)
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
	name = idcard.NormalizeName(name)
	if err := idcard.ValidateName(name); err != nil {
		return Record{}, fmt.Errorf("name: %w", err)
	}
	rec := store.Identity{IDNumber: id, Name: name, TemplateStatus: store.TemplateNone, Sealed: true}
	if len(photo) > MaxPhotoBytes {
		return Record{}, fmt.Errorf("photo of %s: %w", idcard.MaskID(id), ErrPhotoTooLarge)
	}
	if photo != nil {
		sum := sha256.Sum256(photo)
		rec.PhotoSHA256 = sum[:]
		if err := r.enrolled(ctx, &rec, photo); err != nil {
			return Record{}, fmt.Errorf("photo of %s: %w", idcard.MaskID(id), err)
		}
		if !r.dropPhoto {
			rec.Photo = r.seal.SealBytes(photoAD(id), photo)
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

// enrolled sets rec's template fields to what the enroller makes of photo,
// the template sealed.
func (r *Registry) enrolled(ctx context.Context, rec *store.Identity, photo []byte) error {
	if r.enroll == nil {
		return ErrNoPipeline
	}
	t, err := r.enroll.Enroll(ctx, photo)
	switch {
	case errors.Is(err, face.ErrImage): // tested first: the pipeline wraps it in ErrNoUsableFace too
		return err
	case errors.Is(err, face.ErrNoUsableFace):
		rec.TemplateStatus, rec.TemplateModel, rec.Template = store.TemplateNoFace, r.enroll.Model(), nil
		return nil
	case err != nil:
		return err
	}
	b, err := t.MarshalBinary()
	if err != nil {
		return err
	}
	rec.TemplateStatus, rec.TemplateModel, rec.Template = store.TemplateOK, t.Model, r.seal.SealBytes(templateAD(rec.IDNumber), b)
	return nil
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

// List returns the records f selects, ordered by ID number.
func (r *Registry) List(ctx context.Context, f store.IdentityFilter) ([]Record, error) {
	recs, err := r.st.ListIdentities(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]Record, len(recs))
	for i, rec := range recs {
		out[i] = recordOf(rec)
	}
	return out, nil
}

// Has reports whether the registry already holds idNumber as Add would
// store it now: this name, a photo of this SHA-256 (nil: no photo), kept or
// not as this registry keeps photos, and enrolled by this registry's
// descriptor. A resumed import skips such rows without enrolling the photo
// again, and an import over records that lack their photo or were made by
// another descriptor brings them up to date.
func (r *Registry) Has(ctx context.Context, idNumber, name string, photoSHA256 []byte) (bool, error) {
	rec, err := r.st.GetIdentity(ctx, normalise(idNumber))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if rec.Name != idcard.NormalizeName(name) || string(rec.PhotoSHA256) != string(photoSHA256) {
		return false, nil
	}
	if photoSHA256 == nil {
		return true, nil
	}
	return rec.PhotoKept != r.dropPhoto && r.enroll != nil && rec.TemplateModel == r.enroll.Model(), nil
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

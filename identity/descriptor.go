package identity

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/idcard"
	"github.com/portrait-id/portrait/store"
)

// ErrOtherDescriptor is a registry holding templates of another descriptor
// than the one configured: they do not compare with its selfies' templates,
// so every call on those records would fail.
var ErrOtherDescriptor = errors.New("registry templates made by another descriptor")

// ReembedCommand is what an operator runs to bring the registry to model.
func ReembedCommand(model string) string {
	return "portrait identity reembed --embedding " + model
}

// CheckDescriptor refuses a registry holding face templates that its
// enroller's descriptor did not make, naming the command that re-embeds
// them and the setting that serves them meanwhile. One grouped count from
// an index: cheap at every start-up, whatever the registry's size.
func (r *Registry) CheckDescriptor(ctx context.Context) error {
	if r.enroll == nil {
		return ErrNoPipeline
	}
	model := r.enroll.Model()
	counts, err := r.st.CountTemplates(ctx)
	if err != nil {
		return fmt.Errorf("count registry templates: %w", err)
	}
	var others, names []string
	for _, c := range counts {
		if c.Status == store.TemplateOK && c.Model != model {
			others = append(others, fmt.Sprintf("%d by %s", c.Count, c.Model))
			names = append(names, c.Model)
		}
	}
	if others == nil {
		return nil
	}
	meanwhile := "the old descriptor"
	if len(names) == 1 {
		meanwhile = "--embedding " + names[0]
	}
	return fmt.Errorf("%w: the registry holds face templates made by another descriptor (%s) than the configured %s: run `%s` (or keep serving with %s until it is done)",
		ErrOtherDescriptor, strings.Join(others, ", "), model, ReembedCommand(model), meanwhile)
}

// SealLegacy seals the templates of records written before templates were
// sealed, returning how many it sealed. Each record is rewritten only if its
// photo is unchanged, so that it can run beside any other writer; once
// every record is sealed it costs one empty index lookup.
func (r *Registry) SealLegacy(ctx context.Context) (int, error) {
	sealed := 0
	after := ""
	for {
		page, err := r.st.ListIdentities(ctx, store.IdentityFilter{Unsealed: true, After: after, Limit: 256})
		if err != nil || len(page) == 0 {
			return sealed, err
		}
		for _, head := range page {
			after = head.IDNumber
			rec, err := r.st.GetIdentity(ctx, head.IDNumber)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return sealed, err
			}
			if rec.Sealed {
				continue
			}
			if rec.TemplateStatus == store.TemplateOK {
				t, err := r.template(rec)
				if err != nil {
					return sealed, err
				}
				rec.TemplateModel = t.Model
				rec.Template = r.seal.SealBytes(templateAD(rec.IDNumber), rec.Template)
			}
			rec.Sealed = true
			if err := r.st.UpdateTemplate(ctx, rec); err != nil && !errors.Is(err, store.ErrNotFound) {
				return sealed, err
			}
			sealed++
		}
	}
}

// ReembedSummary is what Reembed did to the records with a photo.
type ReembedSummary struct {
	Model      string `json:"model"`
	Current    int    `json:"current"`    // already made by Model: skipped
	Reembedded int    `json:"reembedded"` // now with a template of Model
	NoFace     int    `json:"no_face"`    // Model finds no usable face in the photo: calls answer photo 3
	Changed    int    `json:"changed"`    // replaced or removed meanwhile: left as the operator made them
	// NotKept are the masked ID numbers of records without a kept photo
	// (added before photos were kept, or with it opted out), which only a
	// new photo can bring to Model.
	NotKept []string `json:"not_kept"`
	// Unreadable are the masked ID numbers of records whose kept photo the
	// pipeline now refuses as an image; they too need a new photo.
	Unreadable []string `json:"unreadable"`
}

// Reembed recomputes, with this registry's enroller, the template of every
// record whose photo another descriptor enrolled, from the kept photo. Each
// record is committed on its own and records the enroller already made are
// skipped, so a run that is stopped resumes where it stopped when run
// again. progress, if not nil, is called with the records done out of those
// to do, from one goroutine at a time.
func (r *Registry) Reembed(ctx context.Context, progress func(done, total int)) (ReembedSummary, error) {
	if r.enroll == nil {
		return ReembedSummary{}, ErrNoPipeline
	}
	model := r.enroll.Model()
	sum := ReembedSummary{Model: model, NotKept: []string{}, Unreadable: []string{}}
	counts, err := r.st.CountTemplates(ctx)
	if err != nil {
		return sum, err
	}
	total := 0
	for _, c := range counts {
		if c.Status != store.TemplateNone && c.Model != model {
			total += int(c.Count)
		}
	}

	var (
		mu       sync.Mutex
		done     int
		firstErr error
		wg       sync.WaitGroup
	)
	finish := func(f func()) {
		mu.Lock()
		defer mu.Unlock()
		f()
		done++
		if progress != nil {
			progress(done, total)
		}
	}
	work := make(chan string)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				outcome, err := r.reembedOne(wctx, id)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					continue
				}
				finish(func() {
					switch outcome {
					case store.TemplateOK:
						sum.Reembedded++
					case store.TemplateNoFace:
						sum.NoFace++
					case outcomeUnreadable:
						sum.Unreadable = append(sum.Unreadable, idcard.MaskID(id))
					case outcomeChanged:
						sum.Changed++
					}
				})
			}
		}()
	}
	walkErr := r.walkStale(wctx, model, &sum, work, finish)
	close(work)
	wg.Wait()
	sort.Strings(sum.NotKept)
	sort.Strings(sum.Unreadable)
	if firstErr != nil {
		return sum, firstErr
	}
	if walkErr != nil {
		return sum, walkErr
	}
	return sum, ctx.Err()
}

// walkStale pages through the registry by ID number, counting the records
// model already made and those without a kept photo, and sends the others
// to work.
func (r *Registry) walkStale(ctx context.Context, model string, sum *ReembedSummary, work chan<- string, finish func(func())) error {
	after := ""
	for {
		page, err := r.st.ListIdentities(ctx, store.IdentityFilter{After: after, Limit: 512})
		if err != nil || len(page) == 0 {
			return err
		}
		for _, rec := range page {
			after = rec.IDNumber
			switch {
			case rec.PhotoSHA256 == nil:
			case rec.TemplateModel == model:
				sum.Current++
			case !rec.PhotoKept:
				finish(func() { sum.NotKept = append(sum.NotKept, idcard.MaskID(rec.IDNumber)) })
			default:
				select {
				case work <- rec.IDNumber:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
	}
}

// What reembedOne did besides giving a record a template status.
const (
	outcomeChanged    = "changed"    // the record changed since it was listed
	outcomeUnreadable = "unreadable" // its photo is refused as an image
)

// reembedOne re-enrolls one record's kept photo and returns its new template
// status, or one of the outcomes above.
func (r *Registry) reembedOne(ctx context.Context, id string) (string, error) {
	rec, err := r.st.GetIdentity(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return outcomeChanged, nil
	}
	if err != nil {
		return "", err
	}
	if rec.Photo == nil || rec.TemplateModel == r.enroll.Model() {
		return outcomeChanged, nil
	}
	photo, err := r.seal.OpenBytes(photoAD(id), rec.Photo)
	if err != nil {
		return "", fmt.Errorf("stored photo of %s: %w", idcard.MaskID(id), err)
	}
	if err := r.enrolled(ctx, &rec, photo); errors.Is(err, face.ErrImage) {
		return outcomeUnreadable, nil
	} else if err != nil {
		return "", fmt.Errorf("photo of %s: %w", idcard.MaskID(id), err)
	}
	rec.Sealed = true
	if err := r.st.UpdateTemplate(ctx, rec); errors.Is(err, store.ErrNotFound) {
		return outcomeChanged, nil
	} else if err != nil {
		return "", err
	}
	return rec.TemplateStatus, nil
}

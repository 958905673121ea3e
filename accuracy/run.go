package accuracy

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/nn/kernel"
)

// Extractor turns one photo into a template, as the service would: decode,
// detect, landmarks, align, embed. A photo the pipeline rejects returns an
// error (a *face.QualityError when the quality gate rejected it).
type Extractor interface {
	Extract(ctx context.Context, img []byte) (face.Template, error)
}

// ExtractorFunc adapts a function to Extractor.
type ExtractorFunc func(ctx context.Context, img []byte) (face.Template, error)

// Extract calls f.
func (f ExtractorFunc) Extract(ctx context.Context, img []byte) (face.Template, error) {
	return f(ctx, img)
}

// Embeddings are the set's templates; Vectors[i] is nil when image i failed,
// with the failure's token in Failure[i].
type Embeddings struct {
	Model   string
	Vectors [][]float32
	Failure []string
}

// Embed runs ex on every image of the set, reporting progress to progress
// (nil for none).
func Embed(ctx context.Context, s *Set, ex Extractor, progress io.Writer) (*Embeddings, error) {
	e := &Embeddings{Vectors: make([][]float32, len(s.Images)), Failure: make([]string, len(s.Images))}
	bar := newProgress(progress, len(s.Images))
	defer bar.finish()
	for i, rel := range s.Images {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		img, err := os.ReadFile(filepath.Join(s.Dir, filepath.FromSlash(rel)))
		if err != nil {
			return nil, fmt.Errorf("embed face set: %w", err)
		}
		t, err := ex.Extract(ctx, img)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			e.Failure[i] = failureToken(err)
		case e.Model != "" && t.Model != e.Model:
			return nil, fmt.Errorf("embed face set: %s gave model %q after %q", rel, t.Model, e.Model)
		default:
			e.Model = t.Model
			e.Vectors[i] = t.Vector
		}
		bar.step()
	}
	return e, nil
}

// Subset is the embeddings of the given images, in that order (as Set.Subset
// returns them); the vectors are shared, not copied.
func (e *Embeddings) Subset(images []int) *Embeddings {
	out := &Embeddings{Model: e.Model, Vectors: make([][]float32, len(images)), Failure: make([]string, len(images))}
	for j, i := range images {
		out.Vectors[j], out.Failure[j] = e.Vectors[i], e.Failure[i]
	}
	return out
}

// failureToken names why an image gave no template, for the report.
func failureToken(err error) string {
	var q *face.QualityError
	switch {
	case errors.As(err, &q):
		return string(q.Reason)
	case errors.Is(err, face.ErrImage):
		return "bad_image"
	case errors.Is(err, face.ErrNoUsableFace):
		return "no_usable_face"
	}
	return "no_template"
}

// Scores are the similarities measured for a population: the genuine pairs
// of pairs.tsv, its impostor pairs (for the AUC), and every cross-identity
// image pair as impostors (for the low FARs).
type Scores struct {
	Images        int
	Failures      map[string]int // failure token → images
	Genuine       []float32
	PairImpostors []float32
	Impostors     Impostors
}

// Failed is the number of images that gave no template.
func (s *Scores) Failed() int {
	n := 0
	for _, c := range s.Failures {
		n += c
	}
	return n
}

// Measurement is the whole set and each group.
type Measurement struct {
	Set    string
	Model  string
	All    *Scores
	Groups map[string]*Scores // impostors are pairs within the group
}

// Measure computes every similarity the report needs. The all-pairs
// similarities are one matrix product of the templates with themselves, on
// the runtime's SGEMM, in row blocks so memory stays at one block of rows.
func Measure(s *Set, e *Embeddings) (*Measurement, error) {
	m := &Measurement{Set: s.Dir, Model: e.Model, All: &Scores{Failures: map[string]int{}}, Groups: map[string]*Scores{}}
	scoresOf := func(img int) []*Scores {
		if g := s.ImageGroup(img); g != "" {
			return []*Scores{m.All, m.Groups[g]}
		}
		return []*Scores{m.All}
	}
	for _, g := range s.Groups() {
		m.Groups[g] = &Scores{Failures: map[string]int{}}
	}
	var ok []int // images with a template
	dim := 0
	for i, v := range e.Vectors {
		for _, sc := range scoresOf(i) {
			sc.Images++
			if v == nil {
				sc.Failures[e.Failure[i]]++
			}
		}
		if v == nil {
			continue
		}
		if dim == 0 {
			dim = len(v)
		}
		if len(v) != dim {
			return nil, fmt.Errorf("measure: image %s has a %d-d template, others %d-d", s.Images[i], len(v), dim)
		}
		ok = append(ok, i)
	}
	if len(ok) < 2 {
		return m, nil
	}
	for _, p := range s.Pairs {
		a, b := e.Vectors[p.A], e.Vectors[p.B]
		if a == nil || b == nil {
			continue
		}
		sim := dot(a, b)
		for _, sc := range scoresOf(p.A) {
			if p.Same {
				sc.Genuine = append(sc.Genuine, sim)
			} else if s.ImageGroup(p.A) == s.ImageGroup(p.B) || sc == m.All {
				sc.PairImpostors = append(sc.PairImpostors, sim)
			}
		}
	}
	allImp, groupImp := allPairs(s, e, ok, dim)
	m.All.Impostors = NewImpostors(allImp)
	for g, v := range groupImp {
		m.Groups[g].Impostors = NewImpostors(v)
	}
	return m, nil
}

// allPairs returns the similarity of every cross-identity pair of the
// images in ok (of one origin, in a merged set), overall and within each
// group.
func allPairs(s *Set, e *Embeddings, ok []int, dim int) ([]float32, map[string][]float32) {
	n := len(ok)
	a := make([]float32, n*dim)  // templates as rows
	bt := make([]float32, dim*n) // and as columns
	for r, i := range ok {
		copy(a[r*dim:], e.Vectors[i])
		for k, v := range e.Vectors[i] {
			bt[k*n+r] = v
		}
	}
	packed := kernel.PackB(dim, n, bt, n)
	const block = 64
	c := make([]float32, block*n)
	id := make([]int, n)
	grp := make([]string, n)
	origin := make([]int, n)
	for r, i := range ok {
		id[r], grp[r] = s.Identity[i], s.ImageGroup(i)
		if s.Origin != nil {
			origin[r] = s.Origin[s.Identity[i]]
		}
	}
	all := make([]float32, 0, n*(n-1)/2)
	groups := map[string][]float32{}
	for r0 := 0; r0 < n; r0 += block {
		rows := min(block, n-r0)
		kernel.Gemm(rows, a[r0*dim:], dim, packed, c, n, kernel.Epilogue{})
		for r := r0; r < r0+rows; r++ {
			row := c[(r-r0)*n : (r-r0+1)*n]
			for j := r + 1; j < n; j++ {
				if id[j] == id[r] || origin[j] != origin[r] {
					continue
				}
				all = append(all, row[j])
				if grp[r] != "" && grp[r] == grp[j] {
					groups[grp[r]] = append(groups[grp[r]], row[j])
				}
			}
		}
	}
	return all, groups
}

func dot(a, b []float32) float32 {
	var s float32
	for i, x := range a {
		s += x * b[i]
	}
	return s
}

// progress draws a one-line bar on a terminal.
type progress struct {
	w     io.Writer
	total int
	done  int
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, total: total, start: time.Now()}
}

func (p *progress) step() {
	p.done++
	if p.w == nil || (time.Since(p.last) < 200*time.Millisecond && p.done < p.total) {
		return
	}
	p.last = time.Now()
	const width = 30
	fill := width * p.done / max(p.total, 1)
	el := time.Since(p.start)
	rate := float64(p.done) / el.Seconds()
	eta := time.Duration(float64(p.total-p.done) / max(rate, 1e-9) * float64(time.Second)).Round(time.Second)
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d %5.1f img/s ETA %s ", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), p.done, p.total, rate, eta)
}

func (p *progress) finish() {
	if p.w != nil && p.done > 0 {
		fmt.Fprintln(p.w)
	}
}

// SaveEmbeddings writes e to path, so calibration and reports can be redone
// without running the models again.
func SaveEmbeddings(path string, e *Embeddings) error {
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("save embeddings: %w", err)
	}
	if err := gob.NewEncoder(fh).Encode(e); err != nil {
		fh.Close()
		return fmt.Errorf("save embeddings %s: %w", path, err)
	}
	return fh.Close()
}

// LoadEmbeddings reads what SaveEmbeddings wrote; it must be for set s.
func LoadEmbeddings(path string, s *Set) (*Embeddings, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load embeddings: %w", err)
	}
	defer fh.Close()
	var e Embeddings
	if err := gob.NewDecoder(fh).Decode(&e); err != nil {
		return nil, fmt.Errorf("load embeddings %s: %w", path, err)
	}
	if len(e.Vectors) != len(s.Images) {
		return nil, fmt.Errorf("load embeddings %s: %d images, the set has %d", path, len(e.Vectors), len(s.Images))
	}
	return &e, nil
}

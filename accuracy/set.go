// Package accuracy measures how well a face pipeline tells people apart on a
// labelled face set: failures, ROC AUC, TAR at fixed FARs with every
// cross-identity image pair as an impostor, the same per group of people,
// the false and true accept rates at the calibrated score bands, plots, the
// fit of the similarity→score calibration, and the same rates out of sample
// by k-fold cross-validation by identity.
package accuracy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Set is a face set laid out as <identity>/<n>.jpg, with pairs.tsv (a, b,
// same) and an optional identities.tsv (identity, group).
type Set struct {
	Dir        string
	Images     []string // paths relative to Dir, sorted
	Identity   []int    // per image, index into Identities
	Identities []string
	Group      []string // per identity; "" without identities.tsv
	// Origin is, in a Merge of sets, the set each identity came from (nil
	// otherwise): impostor pairs are only counted inside one origin.
	Origin []int
	Pairs  []Pair
}

// Pair is one labelled pair of pairs.tsv, by image index.
type Pair struct {
	A, B int
	Same bool
}

// ErrSetLayout is a folder that is not a face set.
var ErrSetLayout = errors.New("not a face set")

// LoadSet reads the set's listing and label files; images are read later.
func LoadSet(dir string) (*Set, error) {
	s := &Set{Dir: dir}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load face set: %w", err)
	}
	byIdentity := map[string]int{}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		imgs, err := fs.Glob(os.DirFS(filepath.Join(dir, e.Name())), "*")
		if err != nil {
			return nil, fmt.Errorf("load face set %s: %w", e.Name(), err)
		}
		sort.Strings(imgs)
		for _, name := range imgs {
			if !isImageName(name) {
				continue
			}
			id, ok := byIdentity[e.Name()]
			if !ok {
				id = len(s.Identities)
				byIdentity[e.Name()] = id
				s.Identities = append(s.Identities, e.Name())
			}
			s.Images = append(s.Images, e.Name()+"/"+name)
			s.Identity = append(s.Identity, id)
		}
	}
	if len(s.Images) == 0 {
		return nil, fmt.Errorf("%w: no <identity>/<image> files in %s", ErrSetLayout, dir)
	}
	s.Group = make([]string, len(s.Identities))
	if err := s.readGroups(filepath.Join(dir, "identities.tsv"), byIdentity); err != nil {
		return nil, err
	}
	if err := s.readPairs(filepath.Join(dir, "pairs.tsv")); err != nil {
		return nil, err
	}
	return s, nil
}

func isImageName(n string) bool {
	switch strings.ToLower(filepath.Ext(n)) {
	case ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff":
		return true
	}
	return false
}

// readTSV calls row for every data line of the file with the header's
// column indexes.
func readTSV(path string, need []string, row func(cols map[string]int, f []string, line int) error) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	return parseTSV(fh, filepath.Base(path), need, row)
}

func parseTSV(r io.Reader, name string, need []string, row func(cols map[string]int, f []string, line int) error) error {
	sc := bufio.NewScanner(r)
	var cols map[string]int
	width := 0 // header fields; names may repeat, so not len(cols)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Split(strings.TrimRight(sc.Text(), "\r"), "\t")
		if cols == nil {
			cols, width = map[string]int{}, len(f)
			for i, c := range f {
				cols[strings.TrimSpace(c)] = i
			}
			for _, c := range need {
				if _, ok := cols[c]; !ok {
					return fmt.Errorf("%w: %s has no %q column", ErrSetLayout, name, c)
				}
			}
			continue
		}
		if len(f) == 1 && f[0] == "" {
			continue
		}
		if len(f) < width {
			return fmt.Errorf("%w: %s line %d has %d columns, want %d", ErrSetLayout, name, line, len(f), width)
		}
		if err := row(cols, f, line); err != nil {
			return err
		}
	}
	return sc.Err()
}

func (s *Set) readGroups(path string, byIdentity map[string]int) error {
	err := readTSV(path, []string{"identity", "group"}, func(cols map[string]int, f []string, _ int) error {
		if id, ok := byIdentity[f[cols["identity"]]]; ok {
			s.Group[id] = f[cols["group"]]
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load face set groups: %w", err)
	}
	return nil
}

func (s *Set) readPairs(path string) error {
	byPath := make(map[string]int, len(s.Images))
	for i, p := range s.Images {
		byPath[p] = i
	}
	err := readTSV(path, []string{"a", "b", "same"}, func(cols map[string]int, f []string, line int) error {
		a, okA := byPath[f[cols["a"]]]
		b, okB := byPath[f[cols["b"]]]
		if !okA || !okB {
			return fmt.Errorf("%w: pairs.tsv line %d names an image not in the set", ErrSetLayout, line)
		}
		same := f[cols["same"]] == "1"
		if same != (s.Identity[a] == s.Identity[b]) {
			return fmt.Errorf("%w: pairs.tsv line %d: same=%s contradicts the folders", ErrSetLayout, line, f[cols["same"]])
		}
		s.Pairs = append(s.Pairs, Pair{A: a, B: b, Same: same})
		return nil
	})
	if err != nil {
		return fmt.Errorf("load face set pairs: %w", err)
	}
	return nil
}

// Groups lists the set's groups, sorted; empty without identities.tsv.
func (s *Set) Groups() []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range s.Group {
		if g != "" && !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	sort.Strings(out)
	return out
}

// ImageGroup is the group of image i's identity.
func (s *Set) ImageGroup(i int) string { return s.Group[s.Identity[i]] }

// Sample keeps every k-th identity (k ≥ 1), with its images and the pairs
// between kept images, for a quick run that keeps the groups' proportions.
func (s *Set) Sample(k int) *Set {
	if k <= 1 {
		return s
	}
	out, _ := s.Subset(func(id int) bool { return id%k == 0 })
	return out
}

// Subset keeps the identities keep accepts, with their images and the pairs
// between kept images, in the set's order; images[j] is the index in s of
// the subset's image j (to restrict Embeddings alike).
func (s *Set) Subset(keep func(identity int) bool) (sub *Set, images []int) {
	out := &Set{Dir: s.Dir}
	newID := map[int]int{}
	for id, name := range s.Identities {
		if keep(id) {
			newID[id] = len(out.Identities)
			out.Identities = append(out.Identities, name)
			out.Group = append(out.Group, s.Group[id])
			if s.Origin != nil {
				out.Origin = append(out.Origin, s.Origin[id])
			}
		}
	}
	images = s.keepImages(out, func(i int) (int, bool) {
		id, ok := newID[s.Identity[i]]
		return id, ok
	})
	return out, images
}

// keepImages fills out's images and pairs with the images of s that idOf
// keeps, giving each its identity in out; a pair labelled different whose
// two images now have one identity goes. It returns each kept image's
// index in s.
func (s *Set) keepImages(out *Set, idOf func(img int) (int, bool)) (images []int) {
	newImg := map[int]int{}
	for i, rel := range s.Images {
		if id, ok := idOf(i); ok {
			newImg[i] = len(out.Images)
			out.Images = append(out.Images, rel)
			out.Identity = append(out.Identity, id)
			images = append(images, i)
		}
	}
	for _, p := range s.Pairs {
		a, okA := newImg[p.A]
		b, okB := newImg[p.B]
		if okA && okB && (p.Same || out.Identity[a] != out.Identity[b]) {
			out.Pairs = append(out.Pairs, Pair{A: a, B: b, Same: p.Same})
		}
	}
	return images
}

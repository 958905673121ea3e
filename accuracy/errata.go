package accuracy

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Label errors of the shared face sets, found among the highest-scoring
// impostor pairs of fr_feature and checked by eye: a folder that holds
// another person's photo, or one person under two names. Left in, each
// counts as a stranger who looks just like the user, and moves the rare-FAR
// thresholds the score bands rest on. They are corrected, not hidden:
// `bench accuracy --errata=false` measures the sets as they are.
//
//go:embed errata/*.tsv
var errataFiles embed.FS

// Erratum is one correction: drop an image (A, a path in the set), or
// count two identities (A, B) as the same person.
type Erratum struct {
	Kind string // "drop" or "same"
	A, B string
	Note string
}

// Errata are the shipped corrections of the set named name (its folder's
// base name); none for a set without.
func Errata(name string) ([]Erratum, error) {
	f, err := errataFiles.Open("errata/" + name + ".tsv")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Erratum
	err = parseTSV(f, name+" errata", []string{"kind", "a", "b", "note"}, func(cols map[string]int, row []string, line int) error {
		e := Erratum{Kind: row[cols["kind"]], A: row[cols["a"]], B: row[cols["b"]], Note: row[cols["note"]]}
		if e.Kind != "drop" && e.Kind != "same" || e.A == "" || (e.Kind == "same") != (e.B != "") {
			return fmt.Errorf("%s errata line %d: %q", name, line, strings.Join(row, "\t"))
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// Correct applies errata to s: dropped images go, with their pairs; two
// identities that are one person become one, and pairs.tsv's pairs between
// them (labelled different) go. images[j] is the index in s of the result's
// image j, to restrict Embeddings alike (Embeddings.Subset). Errata naming
// what s lacks are skipped (s may be a Sample); applied is how many were
// not.
func (s *Set) Correct(errata []Erratum) (out *Set, images []int, applied int) {
	drop := map[int]bool{}
	alias := map[int]int{} // identity → the one it is
	ids := map[string]int{}
	for i, n := range s.Identities {
		ids[n] = i
	}
	imgs := map[string]int{}
	for i, p := range s.Images {
		imgs[p] = i
	}
	for _, e := range errata {
		switch e.Kind {
		case "drop":
			if i, ok := imgs[e.A]; ok {
				drop[i] = true
				applied++
			}
		case "same":
			a, okA := ids[e.A]
			b, okB := ids[e.B]
			if okA && okB {
				alias[b] = a
				applied++
			}
		}
	}
	out = &Set{Dir: s.Dir, Identities: s.Identities, Group: s.Group, Origin: s.Origin}
	images = s.keepImages(out, func(i int) (int, bool) {
		id := s.Identity[i]
		if a, ok := alias[id]; ok {
			id = a
		}
		return id, !drop[i]
	})
	return out, images, applied
}

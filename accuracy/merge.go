package accuracy

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Merge joins face sets of disjoint people, with their embeddings, into one
// set measured as a whole, so that a group's rare false accepts are counted
// over the impostors of every set together. Impostor pairs stay inside each
// set (Set.Origin): pairs across two sets are different people too, but in
// another kind of photo — LFW's news photos against faces-east-asian's web
// portraits — and score lower than pairs of one kind, so counting them
// would hide that a threshold lets through too many of a set's own
// impostors (fr_feature's FAR-1e-3 table fitted with them accepted 1.3e-3
// of faces-east-asian's). Identities and images are prefixed with their
// set's folder name; the merged set's Dir names the sets joined by "+" (it
// is measured, not read).
func Merge(sets []*Set, embs []*Embeddings) (*Set, *Embeddings, error) {
	if len(sets) == 0 || len(sets) != len(embs) {
		return nil, nil, fmt.Errorf("merge face sets: %d sets, %d embeddings", len(sets), len(embs))
	}
	out := &Set{}
	e := &Embeddings{}
	var names []string
	seen := map[string]bool{}
	for k, s := range sets {
		name := filepath.Base(filepath.Clean(s.Dir))
		if seen[name] {
			return nil, nil, fmt.Errorf("merge face sets: two sets named %s", name)
		}
		seen[name] = true
		names = append(names, name)
		em := embs[k]
		if len(em.Vectors) != len(s.Images) {
			return nil, nil, fmt.Errorf("merge face sets: %s has %d images, %d embeddings", name, len(s.Images), len(em.Vectors))
		}
		if e.Model != "" && em.Model != "" && em.Model != e.Model {
			return nil, nil, fmt.Errorf("merge face sets: %s embedded with %s, others with %s", name, em.Model, e.Model)
		}
		if em.Model != "" {
			e.Model = em.Model
		}
		idBase, imgBase := len(out.Identities), len(out.Images)
		for id, n := range s.Identities {
			out.Identities = append(out.Identities, name+"/"+n)
			out.Group = append(out.Group, s.Group[id])
			out.Origin = append(out.Origin, k)
		}
		for i, rel := range s.Images {
			out.Images = append(out.Images, name+"/"+rel)
			out.Identity = append(out.Identity, idBase+s.Identity[i])
		}
		for _, p := range s.Pairs {
			out.Pairs = append(out.Pairs, Pair{A: imgBase + p.A, B: imgBase + p.B, Same: p.Same})
		}
		e.Vectors = append(e.Vectors, em.Vectors...)
		e.Failure = append(e.Failure, em.Failure...)
	}
	out.Dir = strings.Join(names, "+")
	return out, e, nil
}

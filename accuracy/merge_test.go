package accuracy

import (
	"context"
	"path/filepath"
	"testing"
)

// loadEmbedded loads a writeSet set and embeds it with angle.
func loadEmbedded(t *testing.T, dir string) (*Set, *Embeddings) {
	t.Helper()
	s, err := LoadSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Embed(context.Background(), s, angle, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, e
}

// TestMergeKeepsImpostorsInsideSets: two sets of different people measured
// together keep every set's genuine pairs and every set's impostors — and
// no pair across the sets, even between two people of one group.
func TestMergeKeepsImpostorsInsideSets(t *testing.T) {
	one := writeSet(t, map[string]string{"a/1.jpg": "0", "a/2.jpg": "10", "b/1.jpg": "90"},
		"a\tb\tsame\na/1.jpg\ta/2.jpg\t1\na/1.jpg\tb/1.jpg\t0\n", "identity\tgroup\na\tg\nb\th\n")
	two := writeSet(t, map[string]string{"a/1.jpg": "180", "c/1.jpg": "45", "c/2.jpg": "50"},
		"a\tb\tsame\nc/1.jpg\tc/2.jpg\t1\n", "identity\tgroup\na\tg\nc\tg\n")
	var sets []*Set
	var embs []*Embeddings
	for _, dir := range []string{one, two} {
		s, e := loadEmbedded(t, dir)
		sets, embs = append(sets, s), append(embs, e)
	}
	s, e, err := Merge(sets, embs)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Base(one) + "+" + filepath.Base(two); s.Dir != want {
		t.Errorf("merged Dir %q, want %q", s.Dir, want)
	}
	// Both sets have an identity "a": they stay two people.
	if len(s.Identities) != 4 || len(s.Images) != 6 || len(s.Pairs) != 3 {
		t.Fatalf("merged %d identities, %d images, %d pairs; want 4, 6, 3", len(s.Identities), len(s.Images), len(s.Pairs))
	}
	m, err := Measure(s, e)
	if err != nil {
		t.Fatal(err)
	}
	// Each set: 3 photos, 3 pairs, 1 same-identity: 2 impostors. Group g
	// holds set one's a (2 photos: no impostor) and set two's a and c (3:
	// 2 impostors).
	if m.All.Impostors.Len() != 4 || len(m.All.Genuine) != 2 {
		t.Errorf("all: %d impostors, %d genuine; want 4, 2", m.All.Impostors.Len(), len(m.All.Genuine))
	}
	if g := m.Groups["g"]; g.Impostors.Len() != 2 || len(g.Genuine) != 2 {
		t.Errorf("group g: %d impostors, %d genuine; want 2, 2", g.Impostors.Len(), len(g.Genuine))
	}
	// A subset of the merge (a cross-validation fold) keeps the origins.
	sub, _ := s.Subset(func(id int) bool { return id != 0 })
	if len(sub.Origin) != 3 || sub.Origin[0] != 0 || sub.Origin[2] != 1 {
		t.Errorf("subset origins %v, want [0 1 1]", sub.Origin)
	}

	if _, _, err := Merge(sets, embs[:1]); err == nil {
		t.Error("merge of 2 sets with 1 embeddings accepted")
	}
	if _, _, err := Merge([]*Set{sets[0], sets[0]}, []*Embeddings{embs[0], embs[0]}); err == nil {
		t.Error("merge of a set with itself accepted")
	}
	other := *embs[1]
	other.Model = "other"
	if _, _, err := Merge(sets, []*Embeddings{embs[0], &other}); err == nil {
		t.Error("merge of two models' embeddings accepted")
	}
}

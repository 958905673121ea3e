package accuracy

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCorrect: a dropped image goes with its pairs; two identities that are
// one person stop being each other's impostors.
func TestCorrect(t *testing.T) {
	dir := writeSet(t, map[string]string{"a/1.jpg": "0", "a/2.jpg": "10", "b/1.jpg": "5", "c/1.jpg": "90", "c/2.jpg": "95"},
		"a\tb\tsame\na/1.jpg\ta/2.jpg\t1\na/1.jpg\tb/1.jpg\t0\nc/1.jpg\tc/2.jpg\t1\na/2.jpg\tc/2.jpg\t0\n", "")
	s, e := loadEmbedded(t, dir)
	fixed, images, n := s.Correct([]Erratum{
		{Kind: "same", A: "a", B: "b"}, {Kind: "drop", A: "c/2.jpg"}, {Kind: "drop", A: "z/9.jpg"},
	})
	if n != 2 || len(fixed.Images) != 4 || len(images) != 4 || images[3] != 3 {
		t.Fatalf("%d applied, images %v of %v", n, fixed.Images, images)
	}
	// Left: a/1–a/2 genuine; a/1–b/1 dropped (one person); both c/2 pairs dropped.
	if len(fixed.Pairs) != 1 || !fixed.Pairs[0].Same {
		t.Errorf("pairs %+v, want a/1–a/2 only", fixed.Pairs)
	}
	m, err := Measure(fixed, e.Subset(images))
	if err != nil {
		t.Fatal(err)
	}
	// a/1, a/2, b/1 are one person; c/1 is everyone's impostor.
	if m.All.Impostors.Len() != 3 {
		t.Errorf("%d impostor pairs, want 3", m.All.Impostors.Len())
	}
}

// TestShippedErrataApply: every correction shipped for a shared set names
// something in it.
func TestShippedErrataApply(t *testing.T) {
	for _, name := range []string{"faces-east-asian"} {
		errata, err := Errata(name)
		if err != nil || len(errata) == 0 {
			t.Fatalf("errata of %s: %v, %d", name, err, len(errata))
		}
		dir := filepath.Join("..", "..", "shared", name)
		if _, err := os.Stat(filepath.Join(dir, "pairs.tsv")); err != nil {
			t.Skipf("%s not present: %v", dir, err)
		}
		s, err := LoadSet(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, n := s.Correct(errata); n != len(errata) {
			t.Errorf("%s: %d of %d corrections apply", name, n, len(errata))
		}
	}
	if errata, err := Errata("faces-elsewhere"); err != nil || errata != nil {
		t.Errorf("a set without errata: %v, %v", errata, err)
	}
}

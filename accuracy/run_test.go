package accuracy

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portrait-id/portrait/face"
)

// writeSet lays out a tiny face set: files hold their own 2-d embedding as
// text ("x y"), so a fake extractor can "embed" them.
func writeSet(t *testing.T, files map[string]string, pairs, groups string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "pairs.tsv"), []byte(pairs), 0o644); err != nil {
		t.Fatal(err)
	}
	if groups != "" {
		if err := os.WriteFile(filepath.Join(dir, "identities.tsv"), []byte(groups), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// angle embeds a photo whose body is an angle in degrees; "fail" fails the
// quality gate.
var angle = ExtractorFunc(func(_ context.Context, img []byte) (face.Template, error) {
	s := strings.TrimSpace(string(img))
	if s == "fail" {
		return face.Template{}, &face.QualityError{Reason: face.ReasonBlur}
	}
	var deg float64
	for _, c := range s {
		deg = deg*10 + float64(c-'0')
	}
	r := deg * math.Pi / 180
	return face.Template{Model: "angle", Vector: []float32{float32(math.Cos(r)), float32(math.Sin(r))}}, nil
})

func TestMeasureKnownSet(t *testing.T) {
	// Identities a, b (group g1) and c (group g2), two photos each, at
	// angles whose cosines are the similarities.
	files := map[string]string{
		"a/1.jpg": "0", "a/2.jpg": "10",
		"b/1.jpg": "90", "b/2.jpg": "100",
		"c/1.jpg": "180", "c/2.jpg": "fail",
	}
	pairs := "a\tb\tsame\na/1.jpg\ta/2.jpg\t1\nb/1.jpg\tb/2.jpg\t1\na/1.jpg\tb/1.jpg\t0\n"
	groups := "identity\tgroup\na\tg1\nb\tg1\nc\tg2\n"
	s, err := LoadSet(writeSet(t, files, pairs, groups))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Embed(context.Background(), s, angle, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Measure(s, e)
	if err != nil {
		t.Fatal(err)
	}
	// Cross-identity pairs among the 5 embedded photos: a×b 4, a×c 2, b×c 2.
	if got := m.All.Impostors.Len(); got != 8 {
		t.Errorf("impostor pairs %d, want 8", got)
	}
	if got := m.Groups["g1"].Impostors.Len(); got != 4 {
		t.Errorf("g1 impostor pairs %d, want 4 (a×b only)", got)
	}
	if got := m.Groups["g2"].Impostors.Len(); got != 0 {
		t.Errorf("g2 impostor pairs %d, want 0", got)
	}
	if m.All.Failures["blur"] != 1 || m.Groups["g2"].Failed() != 1 || m.Groups["g1"].Failed() != 0 {
		t.Errorf("failures all %v, g1 %v, g2 %v", m.All.Failures, m.Groups["g1"].Failures, m.Groups["g2"].Failures)
	}
	if len(m.All.Genuine) != 2 || math.Abs(float64(m.All.Genuine[0])-math.Cos(10*math.Pi/180)) > 1e-6 {
		t.Errorf("genuine %v, want two at cos 10°", m.All.Genuine)
	}
	// The highest impostor is a/2 vs b/1 (80°).
	if got, want := m.All.Impostors.Max(), math.Cos(80*math.Pi/180); math.Abs(got-want) > 1e-6 {
		t.Errorf("max impostor %v, want %v", got, want)
	}
	r := NewReport(m, nil)
	if r.AUC == nil || *r.AUC != 1 {
		t.Errorf("AUC %v, want 1", r.AUC)
	}
	if r.TARAtFAR["1e-2"] != 1 || !strings.Contains(strings.Join(r.Unmeasurable, ","), "1e-2") {
		t.Errorf("TAR@1e-2 %v, unmeasurable %v: 8 pairs cannot measure 1e-2", r.TARAtFAR["1e-2"], r.Unmeasurable)
	}
}

func TestLoadSetRejects(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		pairs string
	}{
		{"no images", map[string]string{"readme.txt": "x"}, "a\tb\tsame\n"},
		{"unknown image", map[string]string{"a/1.jpg": "0"}, "a\tb\tsame\na/1.jpg\ta/9.jpg\t1\n"},
		{"label contradicts folders", map[string]string{"a/1.jpg": "0", "b/1.jpg": "0"}, "a\tb\tsame\na/1.jpg\tb/1.jpg\t1\n"},
		{"missing column", map[string]string{"a/1.jpg": "0"}, "a\tb\n"},
	}
	for _, tc := range tests {
		_, err := LoadSet(writeSet(t, tc.files, tc.pairs, ""))
		if !errors.Is(err, ErrSetLayout) {
			t.Errorf("%s: LoadSet error %v, want ErrSetLayout", tc.name, err)
		}
	}
}

func TestSampleKeepsPairsOfKeptImages(t *testing.T) {
	files := map[string]string{"a/1.jpg": "0", "a/2.jpg": "0", "b/1.jpg": "0", "c/1.jpg": "0", "c/2.jpg": "0"}
	pairs := "a\tb\tsame\na/1.jpg\ta/2.jpg\t1\nc/1.jpg\tc/2.jpg\t1\na/1.jpg\tb/1.jpg\t0\na/1.jpg\tc/1.jpg\t0\n"
	s, err := LoadSet(writeSet(t, files, pairs, ""))
	if err != nil {
		t.Fatal(err)
	}
	sub := s.Sample(2) // identities a and c
	if len(sub.Identities) != 2 || len(sub.Images) != 4 || len(sub.Pairs) != 3 {
		t.Fatalf("sample: %d identities, %d images, %d pairs; want 2, 4, 3", len(sub.Identities), len(sub.Images), len(sub.Pairs))
	}
	for _, p := range sub.Pairs {
		if p.Same != (sub.Identity[p.A] == sub.Identity[p.B]) {
			t.Errorf("pair %+v relabelled", p)
		}
	}
}

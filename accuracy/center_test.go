package accuracy

import (
	"math"
	"testing"
	"time"
)

// A table fitted for a group carries the group's mean unit template as its
// center, and its points are similarities around it; without a group it is
// plain cosine.
func TestCalibrateCentersOnGroup(t *testing.T) {
	s, e := lambSet(false)
	tb, m, err := Calibrate(s, e, "ea", "synthetic", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, len(e.Vectors[0]))
	n := 0
	for i, v := range e.Vectors {
		if s.ImageGroup(i) != "ea" {
			continue
		}
		for d, x := range v { // lambSet's vectors are unit already
			want[d] += float64(x)
		}
		n++
	}
	for d := range want {
		if math.Abs(tb.Center[d]-want[d]/float64(n)) > 1e-6 {
			t.Fatalf("center[%d] = %v, want %v", d, tb.Center[d], want[d]/float64(n))
		}
	}
	// The measurement is in the table's similarities: a genuine pair's
	// similarity is Compare's.
	p := s.Pairs[0]
	for _, q := range s.Pairs {
		if q.Same && s.ImageGroup(q.A) == "ea" {
			p = q
			break
		}
	}
	sim, err := tb.Compare(e.Vectors[p.A], e.Vectors[p.B])
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range m.Groups["ea"].Genuine {
		found = found || math.Abs(float64(g)-sim) < 1e-5
	}
	if !found {
		t.Errorf("genuine similarity %v around the center is not among the measured ones", sim)
	}
	plain, _, err := Calibrate(s, e, "", "synthetic", time.Unix(0, 0))
	if err != nil || plain.Center != nil {
		t.Errorf("without a group: center %v, %v; want none", plain.Center, err)
	}
}

package accuracy

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// sharedDirectionSet is a set where everyone leans (by all) toward one
// direction, as all faces share a face's features, and the "ea" people
// further (by ea) toward another, with photo noise that makes genuine pairs
// hard. Around the "ea" mean their impostors no longer look alike, and the
// others keep only the "ea" lean, negated, in common: a gain when it is the
// smaller lean, a loss when it is the larger.
func sharedDirectionSet(all, ea float64) (*Set, *Embeddings) {
	const dim, perID = 128, 3
	s := groupedSet(map[string]int{"ea": 60, "other": 60}, perID)
	r := rand.New(rand.NewPCG(3, 9))
	randn := func() []float64 {
		v := make([]float64, dim)
		for i := range v {
			v[i] = r.NormFloat64() / math.Sqrt(dim)
		}
		return v
	}
	uAll, uEA := randn(), randn()
	centers := make([][]float64, len(s.Identities))
	for id, g := range s.Group {
		c := randn()
		for i := range c {
			c[i] += all * uAll[i] * 3
			if g == "ea" {
				c[i] += ea * uEA[i] * 3
			}
		}
		centers[id] = c
	}
	e := &Embeddings{Model: "shared", Vectors: make([][]float32, len(s.Images)), Failure: make([]string, len(s.Images))}
	for i, id := range s.Identity {
		n := randn()
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(centers[id][j] + 0.9*n[j])
		}
		e.Vectors[i] = v
	}
	return s, e
}

// Calibrate keeps whichever comparison lets more of the group's genuine
// pairs reach 60: around the group's mean template when its people share a
// direction, plain cosines when they do not; a centered table's center is
// that mean and its measurement is in its similarities.
func TestCalibrateKeepsTheBetterComparison(t *testing.T) {
	for _, tc := range []struct {
		name     string
		all, ea  float64
		centered bool
	}{
		{"group leans a little, everyone more", 0.3, 0.15, true},
		{"group leans far, no one else", 0, 1.5, false},
	} {
		s, e := sharedDirectionSet(tc.all, tc.ea)
		tb, m, err := Calibrate(s, e, "ea", "synthetic", time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		pt, pm, _ := fitAround(s, e, nil, "ea", "synthetic", time.Unix(0, 0))
		ct, cm, _ := fitAround(s, e, Center(s, e, "ea"), "ea", "synthetic", time.Unix(0, 0))
		plain, around := reach60(pm, pt, "ea"), reach60(cm, ct, "ea")
		t.Logf("%s: genuine pairs at 60 plain %d, around the center %d", tc.name, plain, around)
		if (tb.Center != nil) != tc.centered || (tb.Center != nil) != (around > plain) {
			t.Errorf("%s: kept a table with center %v; plain %d, centered %d reach 60", tc.name, tb.Center != nil, plain, around)
		}
		if tb.Center == nil {
			continue
		}
		want := Center(s, e, "ea")
		for d := range want {
			if tb.Center[d] != want[d] {
				t.Fatalf("%s: center[%d] = %v, want the group's mean %v", tc.name, d, tb.Center[d], want[d])
			}
		}
		// The measurement is in the table's similarities.
		p := s.Pairs[0] // groupedSet puts "ea" first
		sim, err := tb.Compare(e.Vectors[p.A], e.Vectors[p.B])
		if err != nil || math.Abs(float64(m.Groups["ea"].Genuine[0])-sim) > 1e-5 {
			t.Errorf("%s: first genuine pair measured %v, the table compares it %v (%v)", tc.name, m.Groups["ea"].Genuine[0], sim, err)
		}
	}
	s, e := sharedDirectionSet(0.3, 0.15)
	if tb, _, err := Calibrate(s, e, "", "synthetic", time.Unix(0, 0)); err != nil || tb.Center != nil {
		t.Errorf("without a group: center %v, %v; want none", tb.Center != nil, err)
	}
}

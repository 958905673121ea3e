package calibration

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func table() Table {
	return Table{Model: "m", Points: []Point{{0.2, 0, ""}, {0.6, 40, ""}, {0.7, 50, ""}, {0.8, 60, ""}, {1, 100, ""}}}
}

func TestScoreMapsAnchors(t *testing.T) {
	tb := table()
	tests := []struct {
		sim, want float64
	}{
		{-1, 0}, {0.2, 0}, {0.4, 20}, {0.6, 40}, {0.65, 45}, {0.7, 50}, {0.8, 60}, {0.9, 80}, {1, 100}, {1.5, 100},
		{0.612345, 41.23}, // rounded to 2 decimals
	}
	for _, tc := range tests {
		if got := tb.Score(tc.sim); got != tc.want {
			t.Errorf("Score(%v) = %v, want %v", tc.sim, got, tc.want)
		}
	}
	for _, s := range []float64{0, 40, 45, 50, 60, 100} {
		if got := tb.Score(tb.Similarity(s)); got != s {
			t.Errorf("Score(Similarity(%v)) = %v", s, got)
		}
	}
}

func TestScoreIsMonotonic(t *testing.T) {
	tb := table()
	prev := -1.0
	for i := 0; i <= 2000; i++ {
		s := tb.Score(-1 + float64(i)/1000)
		if s < prev {
			t.Fatalf("score drops at sim %v: %v < %v", -1+float64(i)/1000, s, prev)
		}
		prev = s
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name string
		pts  []Point
		want string
	}{
		{"one point", []Point{{0.5, 40, ""}}, "need at least 2"},
		{"similarity not increasing", []Point{{0.5, 0, ""}, {0.5, 40, ""}}, "not increasing"},
		{"score not increasing", []Point{{0.5, 40, ""}, {0.6, 40, ""}}, "not increasing"},
		{"score over 100", []Point{{0.5, 40, ""}, {0.6, 101, ""}}, "out of range"},
	}
	for _, tc := range tests {
		err := Table{Model: "m", Points: tc.pts}.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want error with %q", tc.name, err, tc.want)
		}
	}
}

func TestEmbeddedTablesAreValid(t *testing.T) {
	models := Models()
	if len(models) == 0 {
		t.Fatal("no embedded calibration table")
	}
	for _, m := range models {
		tb, err := Lookup(m)
		if err != nil {
			t.Errorf("%s: %v", m, err)
			continue
		}
		if tb.Model != m {
			t.Errorf("%s.json holds model %q", m, tb.Model)
		}
		if tb.Score(tb.Similarity(40)) != 40 || tb.Score(tb.Similarity(60)) != 60 {
			t.Errorf("%s: bands 40 and 60 are not calibration points", m)
		}
	}
	if _, err := Lookup("no-such-model"); err == nil {
		t.Error("Lookup of an unknown model succeeded")
	}
}

func TestCompareAroundCenter(t *testing.T) {
	a, b := []float32{3, 4, 0}, []float32{0, 0, 2} // |a| = 5: compared normalised
	plain := Table{}
	if got, err := plain.Compare(a, b); err != nil || got != 0 {
		t.Errorf("plain cosine of orthogonal vectors = %v, %v", got, err)
	}
	// Around c the differences of the unit vectors from c are what is compared.
	c := Table{Center: []float64{0.1, 0.2, 0.3}}
	da := []float64{0.6 - 0.1, 0.8 - 0.2, 0 - 0.3}
	db := []float64{0 - 0.1, 0 - 0.2, 1 - 0.3}
	norm := func(v []float64) float64 { return math.Sqrt(v[0]*v[0] + v[1]*v[1] + v[2]*v[2]) }
	want := (da[0]*db[0] + da[1]*db[1] + da[2]*db[2]) / (norm(da) * norm(db))
	got, err := c.Compare(a, b)
	if err != nil || math.Abs(got-want) > 1e-9 {
		t.Errorf("Compare around the center = %v, %v; want %v", got, err, want)
	}
	// Centered vectors' dot product is Compare's similarity.
	ca, _ := c.Centered(a)
	cb, _ := c.Centered(b)
	var dot float64
	for i := range ca {
		dot += float64(ca[i]) * float64(cb[i])
	}
	if math.Abs(dot-want) > 1e-6 {
		t.Errorf("dot of Centered = %v, want %v", dot, want)
	}
	for _, tc := range []struct {
		name string
		t    Table
		a, b []float32
	}{
		{"lengths differ", plain, a, b[:2]},
		{"center of another length", Table{Center: []float64{0, 0}}, a, b},
		{"zero vector", plain, []float32{0, 0, 0}, b},
		{"empty", plain, nil, nil},
	} {
		if _, err := tc.t.Compare(tc.a, tc.b); err == nil {
			t.Errorf("%s: Compare gave no error", tc.name)
		}
	}
	if _, err := (Table{Center: []float64{0, 0}}).Centered(a); !errors.Is(err, ErrDimension) {
		t.Errorf("Centered with a center of another length = %v, want ErrDimension", err)
	}
}

func TestValidateRejectsCenterOutsideUnitBall(t *testing.T) {
	tb := Table{Model: "m", Points: []Point{{Similarity: 0, Score: 0}, {Similarity: 1, Score: 100}}}
	for _, c := range [][]float64{{math.NaN()}, {1.5}, {-2}} {
		tb.Center = c
		if err := tb.Validate(); err == nil {
			t.Errorf("center %v validated", c)
		}
	}
	tb.Center = []float64{0.5, -0.5}
	if err := tb.Validate(); err != nil {
		t.Errorf("center %v: %v", tb.Center, err)
	}
}

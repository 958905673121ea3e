package calibration

import (
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

// Package calibration holds the versioned tables that map an embedding
// model's cosine similarity to the service's 0–100 score, so that 40, 50 and
// 60 are the similarities at which different people are accepted at rates
// 1e-3, 1e-4 and 1e-5. Tables are fitted by `portrait bench calibrate` on a
// labelled face set and embedded in the binary.
package calibration

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"sort"
	"strings"
)

//go:embed *.json
var tables embed.FS

// Point maps one similarity to one score.
type Point struct {
	Similarity float64 `json:"similarity"`
	Score      float64 `json:"score"`
	// Basis says where the similarity came from (e.g. "FAR 1e-4, max of all
	// and east_asian"), for the reader of the table.
	Basis string `json:"basis,omitempty"`
}

// Table is one model's mapping, with the provenance needed to reproduce it.
type Table struct {
	Version       int     `json:"version"`
	Model         string  `json:"model"`
	Set           string  `json:"set"`
	Group         string  `json:"group,omitempty"` // group whose impostors the bands must hold for
	Date          string  `json:"date"`
	ImpostorPairs int64   `json:"impostor_pairs"`
	GroupPairs    int64   `json:"group_impostor_pairs,omitempty"`
	Notes         string  `json:"notes,omitempty"`
	Points        []Point `json:"points"` // strictly increasing in both similarity and score
	// Center, when set, is the mean L2-normalised template of Group's photos
	// in the calibration sets. Templates are compared as the cosine of their
	// differences from it (Compare): a descriptor trained mostly on other
	// faces puts all East-Asian faces near one direction, which lifts every
	// East-Asian impostor pair's cosine; subtracting the group's mean removes
	// that shared part. Out of sample it raised fr_feature's East-Asian TAR
	// at FAR 1e-5 by ~4 points and cost others nothing measurable.
	Center []float64 `json:"center,omitempty"`
}

// ErrNoTable is a model without a calibration table in this build.
var ErrNoTable = errors.New("no calibration table for model")

// Lookup returns the embedded table of model.
func Lookup(model string) (Table, error) {
	raw, err := tables.ReadFile(FileName(model))
	if err != nil {
		return Table{}, fmt.Errorf("%w %q", ErrNoTable, model)
	}
	return Parse(raw)
}

// Models lists the models that have an embedded table.
func Models() []string {
	ents, _ := tables.ReadDir(".")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(out)
	return out
}

// FileName is the table's file name inside this package's folder.
func FileName(model string) string { return path.Base(model) + ".json" }

// Parse decodes and validates a table.
func Parse(raw []byte) (Table, error) {
	var t Table
	if err := json.Unmarshal(raw, &t); err != nil {
		return Table{}, fmt.Errorf("parse calibration table: %w", err)
	}
	if err := t.Validate(); err != nil {
		return Table{}, err
	}
	return t, nil
}

// Validate checks that the mapping is usable: at least two points, both
// coordinates strictly increasing, scores within 0..100.
func (t Table) Validate() error {
	if t.Model == "" {
		return errors.New("calibration table: no model")
	}
	if len(t.Points) < 2 {
		return fmt.Errorf("calibration table %s: %d points, need at least 2", t.Model, len(t.Points))
	}
	for i, c := range t.Center {
		if math.IsNaN(c) || math.Abs(c) > 1 {
			return fmt.Errorf("calibration table %s: center[%d] = %v is not part of a mean unit vector", t.Model, i, c)
		}
	}
	for i, p := range t.Points {
		if math.IsNaN(p.Similarity) || p.Score < 0 || p.Score > 100 {
			return fmt.Errorf("calibration table %s: point %d (%v, %v) out of range", t.Model, i, p.Similarity, p.Score)
		}
		if i > 0 && (p.Similarity <= t.Points[i-1].Similarity || p.Score <= t.Points[i-1].Score) {
			return fmt.Errorf("calibration table %s: point %d not increasing", t.Model, i)
		}
	}
	return nil
}

// ErrDimension is a template whose length differs from the table's center.
var ErrDimension = errors.New("template length differs from the calibration center's")

// Compare is the similarity the table's points are in: the cosine of a and
// b, or with a Center the cosine of their differences from it (see Center).
func (t Table) Compare(a, b []float32) (float64, error) {
	if len(a) != len(b) {
		return 0, fmt.Errorf("%w: %d and %d", ErrDimension, len(a), len(b))
	}
	ua, err := t.centered(a)
	if err != nil {
		return 0, err
	}
	ub, err := t.centered(b)
	if err != nil {
		return 0, err
	}
	var dot float64
	for i, x := range ua {
		dot += x * ub[i]
	}
	return dot, nil
}

// Centered is v as Compare sees it, so that cosines of Centered vectors are
// plain dot products.
func (t Table) Centered(v []float32) ([]float32, error) {
	u, err := t.centered(v)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(u))
	for i, x := range u {
		out[i] = float32(x)
	}
	return out, nil
}

// centered is v L2-normalised, minus the Center, normalised again (v
// normalised alone without a Center). Templates are stored normalised, but
// one from an older build must not skew a score.
func (t Table) centered(v []float32) ([]float64, error) {
	if len(v) == 0 {
		return nil, errors.New("compare templates: empty vector")
	}
	if t.Center != nil && len(v) != len(t.Center) {
		return nil, fmt.Errorf("%w: %d, center %d", ErrDimension, len(v), len(t.Center))
	}
	u := make([]float64, len(v))
	for i, x := range v {
		u[i] = float64(x)
	}
	if !normalize(u) {
		return nil, errors.New("compare templates: zero vector")
	}
	if t.Center == nil {
		return u, nil
	}
	for i := range u {
		u[i] -= t.Center[i]
	}
	if !normalize(u) {
		return nil, errors.New("compare templates: template equals the calibration center")
	}
	return u, nil
}

// normalize divides u by its norm, reporting false when it has none.
func normalize(u []float64) bool {
	var s float64
	for _, x := range u {
		s += x * x
	}
	if !(s > 0) || math.IsInf(s, 0) {
		return false
	}
	k := 1 / math.Sqrt(s)
	for i := range u {
		u[i] *= k
	}
	return true
}

// Score maps a similarity to 0..100, piecewise linear between the points and
// clamped to the first and last point's scores outside them, rounded to 2
// decimals as the wire format allows.
func (t Table) Score(sim float64) float64 {
	return round2(interpolate(t.Points, sim, func(p Point) (float64, float64) { return p.Similarity, p.Score }))
}

// Similarity is the inverse of Score (unrounded): the lowest similarity that
// reaches score.
func (t Table) Similarity(score float64) float64 {
	return interpolate(t.Points, score, func(p Point) (float64, float64) { return p.Score, p.Similarity })
}

func interpolate(pts []Point, x float64, xy func(Point) (float64, float64)) float64 {
	x0, y0 := xy(pts[0])
	if math.IsNaN(x) || x <= x0 {
		return y0
	}
	for _, p := range pts[1:] {
		x1, y1 := xy(p)
		if x <= x1 {
			return y0 + (y1-y0)*(x-x0)/(x1-x0)
		}
		x0, y0 = x1, y1
	}
	return y0
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

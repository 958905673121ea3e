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

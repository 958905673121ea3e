package face

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/portrait-id/portrait/face/calibration"
)

// ErrModelMismatch is a comparison of templates made by different embedding
// models (or of different lengths): their similarity means nothing.
var ErrModelMismatch = errors.New("templates of different models")

// Similarity is the plain cosine similarity of two templates of the same
// model (scores compare them through their table instead, see Score).
func Similarity(a, b Template) (float64, error) {
	if err := sameModel(a, b); err != nil {
		return 0, err
	}
	return compare(a, b, calibration.Table{})
}

// Score is the calibrated 0..100 score (2 decimals) of a probe against a
// reference, through the calibration table of their model, which also says
// how to compare them (calibration.Table.Compare).
func Score(probe, ref Template) (float64, error) {
	if err := sameModel(probe, ref); err != nil {
		return 0, err
	}
	t, err := calibrationTable(probe.Model)
	if err != nil {
		return 0, err
	}
	sim, err := compare(probe, ref, t)
	if err != nil {
		return 0, err
	}
	return t.Score(sim), nil
}

func sameModel(a, b Template) error {
	if a.Model != b.Model || len(a.Vector) != len(b.Vector) {
		return fmt.Errorf("%w: %q (%d) vs %q (%d)", ErrModelMismatch, a.Model, len(a.Vector), b.Model, len(b.Vector))
	}
	return nil
}

func compare(a, b Template, t calibration.Table) (float64, error) {
	sim, err := t.Compare(a.Vector, b.Vector)
	if err != nil {
		return 0, fmt.Errorf("compare templates of %q: %w", a.Model, err)
	}
	return sim, nil
}

var (
	tablesMu sync.Mutex
	tables   = map[string]calibration.Table{}
)

// calibrationTable parses each model's embedded table once; a table read
// from a models cache by Open is found here too.
func calibrationTable(model string) (calibration.Table, error) {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	if t, ok := tables[model]; ok {
		return t, nil
	}
	t, err := calibration.Lookup(model)
	if err != nil {
		return calibration.Table{}, fmt.Errorf("score %q: %w", model, err)
	}
	tables[model] = t
	return t, nil
}

// CalibrationDir is where `portrait bench calibrate` writes the tables of
// descriptors this build has none for; the pipeline reads them from there.
func CalibrationDir(modelsDir string) string { return filepath.Join(modelsDir, "calibration") }

// LookupCalibration is the table that scores model's templates: the one
// embedded in this build, else the one `portrait bench calibrate` wrote
// into the models cache (CalibrationDir) for an operator's descriptor. The
// error wraps calibration.ErrNoTable when there is neither.
func LookupCalibration(modelsDir, model string) (calibration.Table, error) {
	t, err := calibration.Lookup(model)
	if !errors.Is(err, calibration.ErrNoTable) {
		return t, err
	}
	raw, rerr := os.ReadFile(filepath.Join(CalibrationDir(modelsDir), calibration.FileName(model)))
	if errors.Is(rerr, os.ErrNotExist) {
		return calibration.Table{}, err
	}
	if rerr != nil {
		return calibration.Table{}, fmt.Errorf("calibration of %s: %w", model, rerr)
	}
	if t, err = calibration.Parse(raw); err != nil {
		return calibration.Table{}, err
	}
	if t.Model != model {
		return calibration.Table{}, fmt.Errorf("calibration table %s is for %q", calibration.FileName(model), t.Model)
	}
	return t, nil
}

// useCalibration makes Score find the table of a model opened from a
// models cache. An embedded table is never replaced: the build's own table
// is the one its tests vouch for.
func useCalibration(modelsDir, model string) error {
	t, err := LookupCalibration(modelsDir, model)
	if errors.Is(err, calibration.ErrNoTable) {
		return nil // not calibrated yet: `bench calibrate` opens it to fit one
	}
	if err != nil {
		return err
	}
	tablesMu.Lock()
	defer tablesMu.Unlock()
	if _, ok := tables[model]; !ok {
		tables[model] = t
	}
	return nil
}

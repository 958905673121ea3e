package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/portrait-id/portrait/accuracy"
	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/face/calibration"
	"github.com/portrait-id/portrait/models"
)

func init() {
	register("bench accuracy", "measure the face pipeline on a labelled face set (TAR@FAR, AUC, per group, score bands)", benchAccuracy)
	register("bench calibrate", "fit the similarity→score table of an embedding model on a labelled face set", benchCalibrate)
}

// accuracyFlags are shared by both commands: both embed one or more sets
// and report.
type accuracyFlags struct {
	fs         *flag.FlagSet
	set        string
	model      string
	modelsDir  string
	out        string
	embeddings string
	gate       bool
	sample     int
	jsonOut    bool
	errata     bool
}

func newAccuracyFlags(name string) *accuracyFlags {
	f := &accuracyFlags{fs: flag.NewFlagSet("portrait "+name, flag.ContinueOnError)}
	f.fs.StringVar(&f.set, "set", "", "face set: <identity>/<n>.jpg, pairs.tsv, optional identities.tsv (required); several sets of different people, comma-separated, are reported each and measured together")
	f.fs.StringVar(&f.model, "model", face.DefaultEmbedding, "embedding model: "+strings.Join(face.BuiltinEmbeddings(), ", ")+" or one added with `portrait models add`; several joined by \"+\" are fused; optionally ending in "+face.FlipSuffix)
	f.fs.StringVar(&f.modelsDir, "models", models.DefaultDir(), "model cache directory")
	f.fs.StringVar(&f.out, "out", "", "directory for roc.png, scores.png, report.json and embeddings.gob (with several sets: each set's in <out>/<set name>/, the combined plots in <out>)")
	f.fs.StringVar(&f.embeddings, "embeddings", "", "reuse embeddings.gob of an earlier run instead of running the models (with several sets: one per set, comma-separated, in --set's order)")
	f.fs.BoolVar(&f.gate, "gate", false, "treat every photo as a selfie: apply the quality gate (default: as a reference photo, detection only)")
	f.fs.IntVar(&f.sample, "sample", 1, "keep every k-th identity, for a quick run")
	f.fs.BoolVar(&f.jsonOut, "json", false, "print the report as JSON")
	f.fs.BoolVar(&f.errata, "errata", true, "correct the known label errors of the shared sets (accuracy/errata/<set>.tsv) after embedding; --errata=false measures a set as it is")
	return f
}

func (f *accuracyFlags) parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.set == "" {
		f.fs.Usage()
		return fmt.Errorf("%w: --set is required", errUsage)
	}
	if f.embeddings != "" && len(strings.Split(f.embeddings, ",")) != len(strings.Split(f.set, ",")) {
		return fmt.Errorf("%w: --embeddings gives %d files for %d sets", errUsage, len(strings.Split(f.embeddings, ",")), len(strings.Split(f.set, ",")))
	}
	return nil
}

// measured is each set's measurement and, with several sets, their merge
// (which is the single set's otherwise).
type measured struct {
	sets  []*accuracy.Set
	embs  []*accuracy.Embeddings
	each  []*accuracy.Measurement
	set   *accuracy.Set
	emb   *accuracy.Embeddings
	whole *accuracy.Measurement
}

// name is the combined set's name, as calibration tables record it.
func (ms *measured) name() string { return filepath.Base(filepath.Clean(ms.set.Dir)) }

// outDir is where the files of the set in dir go.
func (f *accuracyFlags) outDir(dir string) string {
	if !strings.Contains(f.set, ",") {
		return f.out
	}
	return filepath.Join(f.out, filepath.Base(filepath.Clean(dir)))
}

// load loads the sets and embeds them (or reuses saved embeddings), each
// and all sets together; measure computes the similarities.
func (f *accuracyFlags) load(ctx context.Context) (*measured, error) {
	ms := &measured{}
	var embs []*accuracy.Embeddings
	var saved []string
	if f.embeddings != "" {
		saved = strings.Split(f.embeddings, ",")
	}
	var p *face.Pipeline
	defer func() {
		if p != nil {
			p.Close()
		}
	}()
	for i, dir := range strings.Split(f.set, ",") {
		set, err := accuracy.LoadSet(dir)
		if err != nil {
			return nil, err
		}
		set = set.Sample(f.sample)
		ms.sets = append(ms.sets, set)
		var emb *accuracy.Embeddings
		if saved != nil {
			if emb, err = accuracy.LoadEmbeddings(saved[i], set); err != nil {
				return nil, err
			}
		} else {
			if p == nil {
				if p, err = face.Open(face.Config{ModelsDir: f.modelsDir, Embedding: face.EmbedderConfig{Model: f.model}}); err != nil {
					return nil, err
				}
			}
			ex := accuracy.ExtractorFunc(p.Enroll)
			if f.gate {
				ex = p.Probe
			}
			fmt.Fprintf(os.Stderr, "embedding %d photos of %d people of %s with %s\n", len(set.Images), len(set.Identities), dir, p.Model())
			if emb, err = accuracy.Embed(ctx, set, ex, terminal(os.Stderr)); err != nil {
				return nil, err
			}
			if f.out != "" {
				if err := saveEmbeddings(f.outDir(dir), emb); err != nil {
					return nil, err
				}
			}
		}
		if f.errata {
			if set, emb, err = correct(set, emb); err != nil {
				return nil, err
			}
			ms.sets[len(ms.sets)-1] = set
		}
		if emb.Model == "" {
			return nil, fmt.Errorf("no photo of %s gave a template", dir)
		}
		embs = append(embs, emb)
	}
	ms.embs = embs
	if len(ms.sets) == 1 {
		ms.set, ms.emb = ms.sets[0], embs[0]
		return ms, nil
	}
	var err error
	if ms.set, ms.emb, err = accuracy.Merge(ms.sets, embs); err != nil {
		return nil, err
	}
	return ms, nil
}

// measure computes every similarity as table compares templates, per set
// and over all sets together; whole, when not nil, is the latter already
// measured under table (as accuracy.Calibrate returns it).
func (ms *measured) measure(table calibration.Table, whole *accuracy.Measurement) error {
	ms.each = nil
	for i, set := range ms.sets {
		if len(ms.sets) == 1 && whole != nil {
			ms.each = append(ms.each, whole)
			break
		}
		ce, err := ms.embs[i].Compared(table)
		if err != nil {
			return err
		}
		m, err := accuracy.Measure(set, ce)
		if err != nil {
			return err
		}
		ms.each = append(ms.each, m)
	}
	if ms.whole = whole; len(ms.sets) == 1 {
		ms.whole = ms.each[0]
	}
	if ms.whole != nil {
		return nil
	}
	ce, err := ms.emb.Compared(table)
	if err != nil {
		return err
	}
	ms.whole, err = accuracy.Measure(ms.set, ce)
	return err
}

// correct applies the set's shipped errata to it and its embeddings.
func correct(set *accuracy.Set, emb *accuracy.Embeddings) (*accuracy.Set, *accuracy.Embeddings, error) {
	name := filepath.Base(filepath.Clean(set.Dir))
	errata, err := accuracy.Errata(name)
	if err != nil || len(errata) == 0 {
		return set, emb, err
	}
	fixed, images, n := set.Correct(errata)
	fmt.Fprintf(os.Stderr, "%s: %d of %d label corrections applied (accuracy/errata/%s.tsv)\n", name, n, len(errata), name)
	return fixed, emb.Subset(images), nil
}

func saveEmbeddings(dir string, e *accuracy.Embeddings) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return accuracy.SaveEmbeddings(filepath.Join(dir, "embeddings.gob"), e)
}

// setsReport is the JSON of a run over several sets.
type setsReport struct {
	Sets     []accuracy.Report `json:"sets"`
	Combined accuracy.Report   `json:"combined"`
}

// finish prints the reports (each set's, then the combined one) and writes
// the plots and report.json; whole is the combined report.
func (f *accuracyFlags) finish(ms *measured, each []accuracy.Report, whole accuracy.Report) error {
	if f.out != "" {
		for i, m := range ms.each {
			if len(ms.each) > 1 {
				if err := f.writeOut(f.outDir(ms.sets[i].Dir), each[i], m); err != nil {
					return err
				}
			}
		}
		var v any = whole
		if len(ms.each) > 1 {
			v = setsReport{each, whole}
		}
		if err := f.writeOut(f.out, v, ms.whole); err != nil {
			return err
		}
	}
	if f.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if len(ms.each) > 1 {
			return enc.Encode(setsReport{each, whole})
		}
		return enc.Encode(whole)
	}
	if len(ms.each) > 1 {
		for _, r := range each {
			if err := r.WriteText(os.Stdout); err != nil {
				return err
			}
			fmt.Println()
		}
	}
	return whole.WriteText(os.Stdout)
}

func (f *accuracyFlags) writeOut(dir string, report any, m *accuracy.Measurement) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := accuracy.WritePlots(dir, m); err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, "report.json"), report)
}

// reports are each set's report and the combined one under table.
func (ms *measured) reports(table *calibration.Table) ([]accuracy.Report, accuracy.Report) {
	var each []accuracy.Report
	for _, m := range ms.each {
		each = append(each, accuracy.NewReport(m, table))
	}
	if len(ms.each) == 1 {
		return each, each[0]
	}
	return each, accuracy.NewReport(ms.whole, table)
}

func benchAccuracy(ctx context.Context, args []string) error {
	f := newAccuracyFlags("bench accuracy")
	folds := f.fs.Int("folds", 0, "also estimate the score bands out of sample: K-fold cross-validation by identity (over all sets together), each fold's table fitted on the other folds (0: off)")
	seed := f.fs.Uint64("seed", 1, "seed of --folds' identity split")
	group := f.fs.String("group", "east_asian", "with --folds: group whose impostors the fitted bands must also hold for, as bench calibrate's (\"\" for the whole set only)")
	if err := f.parse(args); err != nil {
		return err
	}
	if *folds < 0 || *folds == 1 {
		return fmt.Errorf("--folds %d: need at least 2 folds (0 for none)", *folds)
	}
	ms, err := f.load(ctx)
	if err != nil {
		return err
	}
	var table *calibration.Table
	if t, err := face.LookupCalibration(f.modelsDir, ms.emb.Model); err == nil {
		table = &t
	} else {
		fmt.Fprintf(os.Stderr, "no calibration table for %s: score figures omitted (run `portrait bench calibrate`)\n", ms.emb.Model)
	}
	// The in-sample figures compare templates as the shipped table does.
	compared := calibration.Table{}
	if table != nil {
		compared = *table
	}
	if err := ms.measure(compared, nil); err != nil {
		return err
	}
	each, whole := ms.reports(table)
	if *folds > 0 {
		if table != nil && table.Group != *group {
			fmt.Fprintf(os.Stderr, "note: the shipped table was fitted with --group %q, the folds' tables with %q\n", table.Group, *group)
		}
		if whole.Holdout, err = accuracy.CrossValidate(ms.set, ms.emb, accuracy.CrossValidation{Folds: *folds, Seed: *seed, Group: *group}); err != nil {
			return err
		}
	}
	return f.finish(ms, each, whole)
}

func benchCalibrate(ctx context.Context, args []string) error {
	f := newAccuracyFlags("bench calibrate")
	group := f.fs.String("group", "east_asian", "group whose impostors the bands must also hold for, over all sets together (\"\" for the whole set only)")
	write := f.fs.String("write", "", "directory to write <model>.json into (the repo's face/calibration to ship it); default: the models cache's calibration folder, where serve finds it, for a descriptor this build has no table for, else print only")
	if err := f.parse(args); err != nil {
		return err
	}
	ms, err := f.load(ctx)
	if err != nil {
		return err
	}
	t, fitted, err := accuracy.Calibrate(ms.set, ms.emb, *group, ms.name(), time.Now())
	if err != nil {
		return err
	}
	if err := ms.measure(t, fitted); err != nil {
		return err
	}
	dir := *write
	if _, err := calibration.Lookup(t.Model); dir == "" && errors.Is(err, calibration.ErrNoTable) {
		dir = face.CalibrationDir(f.modelsDir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if dir != "" {
		path := filepath.Join(dir, calibration.FileName(t.Model))
		if err := writeJSON(path, t); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", path)
	} else {
		if err := json.NewEncoder(os.Stderr).Encode(t); err != nil {
			return err
		}
	}
	each, whole := ms.reports(&t)
	return f.finish(ms, each, whole)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// terminal is w when it is a terminal (for the progress bar), else nil.
func terminal(w *os.File) io.Writer {
	if st, err := w.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		return w
	}
	return nil
}

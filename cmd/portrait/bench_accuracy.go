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

// accuracyFlags are shared by both commands: both embed a set and report.
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
}

func newAccuracyFlags(name string) *accuracyFlags {
	f := &accuracyFlags{fs: flag.NewFlagSet("portrait "+name, flag.ContinueOnError)}
	f.fs.StringVar(&f.set, "set", "", "face set: <identity>/<n>.jpg, pairs.tsv, optional identities.tsv (required)")
	f.fs.StringVar(&f.model, "model", face.DefaultEmbedding, "embedding model: "+face.EmbedFaceAPI+", "+face.EmbedFaceRes+", "+face.EmbedFaceResRGB+", each optionally with "+face.FlipSuffix)
	f.fs.StringVar(&f.modelsDir, "models", models.DefaultDir(), "model cache directory")
	f.fs.StringVar(&f.out, "out", "", "directory for roc.png, scores.png, report.json and embeddings.gob")
	f.fs.StringVar(&f.embeddings, "embeddings", "", "reuse embeddings.gob of an earlier run instead of running the models")
	f.fs.BoolVar(&f.gate, "gate", false, "treat every photo as a selfie: apply the quality gate (default: as a reference photo, detection only)")
	f.fs.IntVar(&f.sample, "sample", 1, "keep every k-th identity, for a quick run")
	f.fs.BoolVar(&f.jsonOut, "json", false, "print the report as JSON")
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
	return nil
}

// measure loads the set, embeds it (or reuses saved embeddings) and computes
// every similarity.
func (f *accuracyFlags) measure(ctx context.Context) (*accuracy.Set, *accuracy.Embeddings, *accuracy.Measurement, error) {
	set, err := accuracy.LoadSet(f.set)
	if err != nil {
		return nil, nil, nil, err
	}
	set = set.Sample(f.sample)
	var emb *accuracy.Embeddings
	if f.embeddings != "" {
		if emb, err = accuracy.LoadEmbeddings(f.embeddings, set); err != nil {
			return nil, nil, nil, err
		}
	} else {
		p, err := face.Open(face.Config{ModelsDir: f.modelsDir, Embedding: face.EmbedderConfig{Model: f.model}})
		if err != nil {
			return nil, nil, nil, err
		}
		defer p.Close()
		ex := accuracy.ExtractorFunc(p.Enroll)
		if f.gate {
			ex = p.Probe
		}
		fmt.Fprintf(os.Stderr, "embedding %d photos of %d people with %s\n", len(set.Images), len(set.Identities), p.Model())
		if emb, err = accuracy.Embed(ctx, set, ex, terminal(os.Stderr)); err != nil {
			return nil, nil, nil, err
		}
		if f.out != "" {
			if err := os.MkdirAll(f.out, 0o755); err != nil {
				return nil, nil, nil, err
			}
			if err := accuracy.SaveEmbeddings(filepath.Join(f.out, "embeddings.gob"), emb); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	m, err := accuracy.Measure(set, emb)
	if err != nil {
		return nil, nil, nil, err
	}
	if m.Model == "" {
		return nil, nil, nil, errors.New("no photo of the set gave a template")
	}
	return set, emb, m, nil
}

// finish prints the report and writes the plots and report.json.
func (f *accuracyFlags) finish(r accuracy.Report, m *accuracy.Measurement) error {
	if f.out != "" {
		if err := os.MkdirAll(f.out, 0o755); err != nil {
			return err
		}
		if err := accuracy.WritePlots(f.out, m); err != nil {
			return err
		}
		if err := writeJSON(filepath.Join(f.out, "report.json"), r); err != nil {
			return err
		}
	}
	if f.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return r.WriteText(os.Stdout)
}

func benchAccuracy(ctx context.Context, args []string) error {
	f := newAccuracyFlags("bench accuracy")
	folds := f.fs.Int("folds", 0, "also estimate the score bands out of sample: K-fold cross-validation by identity, each fold's table fitted on the other folds (0: off)")
	seed := f.fs.Uint64("seed", 1, "seed of --folds' identity split")
	group := f.fs.String("group", "east_asian", "with --folds: group whose impostors the fitted bands must also hold for, as bench calibrate's (\"\" for the whole set only)")
	if err := f.parse(args); err != nil {
		return err
	}
	if *folds < 0 || *folds == 1 {
		return fmt.Errorf("--folds %d: need at least 2 folds (0 for none)", *folds)
	}
	set, emb, m, err := f.measure(ctx)
	if err != nil {
		return err
	}
	var table *calibration.Table
	if t, err := calibration.Lookup(m.Model); err == nil {
		table = &t
	} else {
		fmt.Fprintf(os.Stderr, "no calibration table for %s: score figures omitted (run `portrait bench calibrate`)\n", m.Model)
	}
	r := accuracy.NewReport(m, table)
	if *folds > 0 {
		if table != nil && table.Group != *group {
			fmt.Fprintf(os.Stderr, "note: the shipped table was fitted with --group %q, the folds' tables with %q\n", table.Group, *group)
		}
		if r.Holdout, err = accuracy.CrossValidate(set, emb, accuracy.CrossValidation{Folds: *folds, Seed: *seed, Group: *group}); err != nil {
			return err
		}
	}
	return f.finish(r, m)
}

func benchCalibrate(ctx context.Context, args []string) error {
	f := newAccuracyFlags("bench calibrate")
	group := f.fs.String("group", "east_asian", "group whose impostors the bands must also hold for (\"\" for the whole set only)")
	write := f.fs.String("write", "", "directory to write <model>.json into (the repo's face/calibration to ship it); default: print only")
	if err := f.parse(args); err != nil {
		return err
	}
	_, _, m, err := f.measure(ctx)
	if err != nil {
		return err
	}
	t, err := accuracy.Fit(m, *group, filepath.Base(filepath.Clean(f.set)), time.Now())
	if err != nil {
		return err
	}
	if *write != "" {
		path := filepath.Join(*write, calibration.FileName(t.Model))
		if err := writeJSON(path, t); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", path)
	} else {
		if err := json.NewEncoder(os.Stderr).Encode(t); err != nil {
			return err
		}
	}
	return f.finish(accuracy.NewReport(m, &t), m)
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

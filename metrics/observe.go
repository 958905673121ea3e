package metrics

import (
	"context"
	"time"

	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/verify"
)

// TracingFaces is a face pipeline that reports its stages' timings
// (face.Pipeline, adapted with a Score).
type TracingFaces interface {
	ProbeTrace(ctx context.Context, img []byte) (face.Template, *face.Analysis, face.Trace, error)
	Score(probe, ref face.Template) (float64, error)
}

// Faces returns f as verify.Faces, recording the time of each face stage and
// of each model's inference for every selfie.
func (m *Metrics) Faces(f TracingFaces) verify.Faces { return observedFaces{f, m} }

type observedFaces struct {
	TracingFaces
	m *Metrics
}

func (o observedFaces) Probe(ctx context.Context, img []byte) (face.Template, error) {
	t, _, tr, err := o.ProbeTrace(ctx, img)
	// A stage that did not run (the selfie failed earlier) took no time and
	// is not an observation.
	for _, s := range []struct {
		stage, model string
		d            time.Duration
	}{
		{StageDecode, "", tr.Decode},
		{StageDetect, "detector", tr.Detect},
		{StageLandmarks, "landmarks", tr.Landmarks},
		{StageQuality, "", tr.Quality},
		{StageEmbed, "embedder", tr.Embed},
	} {
		if s.d <= 0 {
			continue
		}
		o.m.ObserveStage(s.stage, s.d)
		if s.model != "" {
			o.m.inference.WithLabelValues(s.model).Observe(s.d.Seconds())
		}
	}
	return t, err
}

// Source returns s recording each lookup's time as the lookup stage.
func (m *Metrics) Source(s identity.Source) identity.Source { return observedSource{s, m} }

type observedSource struct {
	identity.Source
	m *Metrics
}

func (o observedSource) Lookup(ctx context.Context, q identity.Query) (identity.Result, error) {
	start := time.Now()
	r, err := o.Source.Lookup(ctx, q)
	o.m.ObserveStage(StageLookup, time.Since(start))
	return r, err
}

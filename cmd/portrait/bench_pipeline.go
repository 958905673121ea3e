package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	_ "image/png" // a face set's photos may be PNGs
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"

	"golang.org/x/image/draw"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/models"
)

func init() {
	register("bench pipeline", "time full verifications on one thread (decode, detect, landmarks, quality, embed, compare): the per-stage split per photo", benchPipeline)
}

// pipelineBench is one photo's timings, medians over the iterations.
type pipelineBench struct {
	Photo       string  `json:"photo"`
	KB          float64 `json:"kb"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	DecodeMs    float64 `json:"decode_ms"`
	DetectMs    float64 `json:"detect_ms"`
	LandmarksMs float64 `json:"landmarks_ms"`
	QualityMs   float64 `json:"quality_ms"`
	EmbedMs     float64 `json:"embed_ms"`
	CompareMs   float64 `json:"compare_ms"`
	P50Ms       float64 `json:"p50_ms"`
	P90Ms       float64 `json:"p90_ms"`
	// CPUP50Ms is the median CPU time of a whole verification on its
	// thread (Linux; 0 elsewhere): what the call costs on a busy machine,
	// where the wall-clock figures include waiting for a core.
	CPUP50Ms float64 `json:"cpu_p50_ms,omitempty"`
	Score    float64 `json:"score"`
	Iters    int     `json:"iters"`
}

func benchPipeline(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("portrait bench pipeline", flag.ContinueOnError)
	dir := fs.String("models", models.DefaultDir(), "model cache directory")
	embedding := fs.String("embedding", envOr("PORTRAIT_EMBEDDING", face.DefaultEmbedding), "embedding model, as serve's --embedding")
	iters := fs.Int("iters", 50, "timed verifications per photo (after one warm-up)")
	reference := fs.String("reference", "", "reference photo whose template each call is compared with (default: each photo's own)")
	frame := fs.String("frame", "", "enlarge each photo onto a portrait frame WxH, as a phone selfie of it (e.g. 960x1280)")
	quality := fs.Int("quality", 92, "JPEG quality of a --frame selfie")
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: portrait bench pipeline [flags] PHOTO...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 || *iters < 1 {
		fs.Usage()
		return fmt.Errorf("%w: give at least one photo and --iters ≥ 1", errUsage)
	}
	var fw, fh int
	if *frame != "" {
		if n, err := fmt.Sscanf(*frame, "%dx%d", &fw, &fh); n != 2 || err != nil || fw < 64 || fh < 64 {
			return fmt.Errorf("%w: --frame %q is not WxH", errUsage, *frame)
		}
	}
	p, err := app.OpenFaces(*dir, *embedding)
	if err != nil {
		return err
	}
	defer p.Close()
	// One thread, as the target is stated per core.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))

	var ref *face.Template
	if *reference != "" {
		b, err := os.ReadFile(*reference)
		if err != nil {
			return err
		}
		t, err := p.Enroll(ctx, b)
		if err != nil {
			return fmt.Errorf("reference %s: %w", *reference, err)
		}
		ref = &t
	}
	var rows []pipelineBench
	for _, path := range fs.Args() {
		img, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if fw > 0 {
			if img, err = selfieOnFrame(img, fw, fh, *quality); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		row, err := timeVerification(ctx, p, img, ref, *iters)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		row.Photo = filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path)
		rows = append(rows, row)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "photo\tKB\tpixels\tdecode\tdetect\tlandmarks\tquality\tembed\tcompare\tp50 ms\tp90 ms\tCPU p50 ms\tscore\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.1f\t%d×%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.3f\t%.2f\t%.2f\t%.2f\t%.2f\t\n",
			r.Photo, r.KB, r.Width, r.Height, r.DecodeMs, r.DetectMs, r.LandmarksMs, r.QualityMs, r.EmbedMs, r.CompareMs, r.P50Ms, r.P90Ms, r.CPUP50Ms, r.Score)
	}
	return tw.Flush()
}

// timeVerification runs the selfie's half of a verification iters times —
// the reference's template is stored, so a call never embeds it — and
// returns the median of each stage.
func timeVerification(ctx context.Context, p *face.Pipeline, img []byte, ref *face.Template, iters int) (pipelineBench, error) {
	probe, a, _, err := p.ProbeTrace(ctx, img) // warm-up, and the reference by default
	if err != nil {
		return pipelineBench{}, err
	}
	if ref == nil {
		ref = &probe
	}
	traces := make([]face.Trace, iters)
	compares := make([]time.Duration, iters)
	cpu := make([]time.Duration, iters)
	var score float64
	// The pipeline runs on the calling goroutine; kept on one thread, that
	// thread's CPU clock times the whole call.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i := range iters {
		c0, cpuOK := threadCPU()
		t, _, tr, err := p.ProbeTrace(ctx, img)
		if err != nil {
			return pipelineBench{}, err
		}
		start := time.Now()
		if score, err = face.Score(t, *ref); err != nil {
			return pipelineBench{}, err
		}
		compares[i] = time.Since(start)
		if c1, ok := threadCPU(); ok && cpuOK {
			cpu[i] = c1 - c0
		}
		traces[i] = tr
	}
	ms := func(f func(i int) time.Duration, q float64) float64 {
		v := make([]time.Duration, iters)
		for i := range v {
			v[i] = f(i)
		}
		slices.Sort(v)
		return float64(v[int(q*float64(iters-1))].Microseconds()) / 1000
	}
	stage := func(f func(face.Trace) time.Duration) float64 {
		return ms(func(i int) time.Duration { return f(traces[i]) }, 0.5)
	}
	total := func(i int) time.Duration { return traces[i].Total() + compares[i] }
	return pipelineBench{
		KB: float64(len(img)) / 1024, Width: a.Width, Height: a.Height,
		DecodeMs:    stage(func(t face.Trace) time.Duration { return t.Decode }),
		DetectMs:    stage(func(t face.Trace) time.Duration { return t.Detect }),
		LandmarksMs: stage(func(t face.Trace) time.Duration { return t.Landmarks }),
		QualityMs:   stage(func(t face.Trace) time.Duration { return t.Quality }),
		EmbedMs:     stage(func(t face.Trace) time.Duration { return t.Embed }),
		CompareMs:   ms(func(i int) time.Duration { return compares[i] }, 0.5),
		P50Ms:       ms(total, 0.5),
		P90Ms:       ms(total, 0.9),
		CPUP50Ms:    ms(func(i int) time.Duration { return cpu[i] }, 0.5),
		Score:       score,
		Iters:       iters,
	}, nil
}

// selfieOnFrame enlarges a photo onto a w×h frame as a phone would take it:
// the photo fills the frame's width, centred, on grey, saved as a JPEG. It
// turns the small photos of a face set into selfies of a phone's size, with
// the bytes and pixels whose decoding a real call pays for.
func selfieOnFrame(img []byte, w, h, quality int) ([]byte, error) {
	src, _, err := image.Decode(bytes.NewReader(img))
	if err != nil {
		return nil, err
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.Gray{128}), image.Point{}, draw.Src)
	sb := src.Bounds()
	side := w * sb.Dy() / sb.Dx()
	top := (h - side) / 2
	draw.CatmullRom.Scale(dst, image.Rect(0, top, w, top+side), src, sb, draw.Over, nil)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: quality}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

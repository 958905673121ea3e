package face

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/portrait-id/portrait/models"
)

// Config configures Open. Zero fields take the documented defaults.
type Config struct {
	ModelsDir string   // models cache; default models.DefaultDir()
	Detector  Detector // default DetectorFront
	// Fallback runs when Detector finds no face the mesh confirms (default
	// DetectorBack; NoFallback disables it). The short-range model misses
	// faces under ~12 % of the frame's width (on faces-dev photos set in a
	// 900×1200 frame: 47 of 61 found at 12 %, 1 of 61 at 8 %), which the
	// 256-pixel model finds (61 of 61 at 8 %); run only then, it costs
	// nothing on the usual selfie.
	Fallback  Detector
	Limits    ImageLimits // default DefaultImageLimits
	Gate      Gate        // zero fields default to DefaultGate's
	Embedding EmbedderConfig
	// MeshPasses is how many times FaceMesh runs at most: 1 on the
	// detector's crop only, 2 (default) again on a crop re-framed from the
	// first mesh unless the first is already settled (see settled). The
	// second pass costs one more mesh inference (~4 ms) and steadies the
	// landmarks: on faces-dev, the yaw of a photo and of its mirror image
	// disagree by at most 3.6° instead of 5.4°, the roll of a photo turned
	// by 15° is off by at most 1.5° instead of 2.9°.
	MeshPasses int
}

// Pipeline turns photos into templates. It holds the loaded models and no
// per-call state, so one Pipeline serves every goroutine; nothing of a photo
// (pixels, landmarks, embedding) outlives the call that brought it.
type Pipeline struct {
	limits     ImageLimits
	gate       Gate
	meshPasses int
	detector   *detector
	fallback   *detector // nil when disabled
	mesher     *mesher
	embedder   *Embedder
}

// Open loads every model once. A missing or unverifiable model file is an
// error naming the file and the command that fetches it.
func Open(c Config) (*Pipeline, error) {
	if c.ModelsDir == "" {
		c.ModelsDir = models.DefaultDir()
	}
	if c.Detector == "" {
		c.Detector = DetectorFront
	}
	if c.Limits == (ImageLimits{}) {
		c.Limits = DefaultImageLimits
	}
	detPath, err := c.Detector.modelPath(c.ModelsDir)
	if err != nil {
		return nil, fmt.Errorf("open face pipeline: %w", err)
	}
	if c.MeshPasses <= 0 {
		c.MeshPasses = 2
	}
	p := &Pipeline{limits: c.Limits, gate: c.Gate.withDefaults(), meshPasses: c.MeshPasses}
	if p.detector, err = newDetector(detPath); err != nil {
		return nil, fmt.Errorf("open face pipeline: %w", err)
	}
	if c.Fallback == "" {
		c.Fallback = DetectorBack
	}
	if c.Fallback != NoFallback && c.Fallback != c.Detector {
		path, err := c.Fallback.modelPath(c.ModelsDir)
		if err != nil {
			return nil, fmt.Errorf("open face pipeline: fallback: %w", err)
		}
		if p.fallback, err = newDetector(path); err != nil {
			return nil, fmt.Errorf("open face pipeline: %w", err)
		}
	}
	if p.mesher, err = newMesher(models.Path(c.ModelsDir, "human", "models/facemesh.json")); err != nil {
		return nil, fmt.Errorf("open face pipeline: %w", err)
	}
	if p.embedder, err = OpenEmbedder(c.ModelsDir, c.Embedding); err != nil {
		return nil, fmt.Errorf("open face pipeline: %w (run `portrait models fetch`)", err)
	}
	if err := useCalibration(c.ModelsDir, p.embedder.Model()); err != nil {
		p.Close()
		return nil, fmt.Errorf("open face pipeline: %w", err)
	}
	return p, nil
}

// Close releases the models.
func (p *Pipeline) Close() error { return p.embedder.Close() }

// Model is the name of the templates this pipeline makes.
func (p *Pipeline) Model() string { return p.embedder.Model() }

// Face is the face the pipeline chose in a photo (see mainFace).
type Face struct {
	Detection
	Mesh      []Point3 // MeshPoints landmarks, source pixels
	MeshScore float64  // FaceMesh's face-presence probability
	Pose      Pose
	Measures  Measures
}

// Analysis is what the pipeline saw in a photo.
type Analysis struct {
	Width, Height int         // upright, after EXIF orientation
	Face          *Face       // nil when no face was found
	Others        []Detection // the other faces found, best first
}

// Trace is the time each stage of one call took, for `portrait bench`.
type Trace struct {
	Decode, Detect, Landmarks, Quality, Embed time.Duration
}

// Total is the whole call.
func (t Trace) Total() time.Duration {
	return t.Decode + t.Detect + t.Landmarks + t.Quality + t.Embed
}

// Probe turns a selfie into a template: decode, detect, landmarks, pose,
// quality gate, align and embed. Errors wrap ErrImage (not acceptable input)
// or are a *QualityError (the selfie fails the gate).
func (p *Pipeline) Probe(ctx context.Context, img []byte) (Template, error) {
	t, _, _, err := p.ProbeTrace(ctx, img)
	return t, err
}

// ProbeTrace is Probe that also returns what it saw and the per-stage
// timings (both also when the gate refuses the selfie).
func (p *Pipeline) ProbeTrace(ctx context.Context, img []byte) (Template, *Analysis, Trace, error) {
	var tr Trace
	pyr, a, err := p.analyze(ctx, img, &tr, true)
	if err != nil {
		return Template{}, a, tr, err
	}
	if err := p.gate.check(a); err != nil {
		return Template{}, a, tr, err
	}
	t, err := p.embed(ctx, pyr, a.Face, &tr)
	return t, a, tr, err
}

// Analyze runs the pipeline up to the quality measures, without the gate's
// verdict or an embedding.
func (p *Pipeline) Analyze(ctx context.Context, img []byte) (*Analysis, error) {
	var tr Trace
	_, a, err := p.analyze(ctx, img, &tr, true)
	return a, err
}

// Check is the gate's verdict on an analysis: nil or a *QualityError.
func (p *Pipeline) Check(a *Analysis) error { return p.gate.check(a) }

// Enroll turns a reference photo (an ID photo from the registry) into a
// template. It needs one usable face, not a good selfie: the gate is not
// applied, since an old ID photo that fails it is still the best reference
// there is. Every failure wraps ErrNoUsableFace.
func (p *Pipeline) Enroll(ctx context.Context, img []byte) (Template, error) {
	var tr Trace
	pyr, a, err := p.analyze(ctx, img, &tr, false)
	if err != nil {
		if ctx.Err() != nil {
			return Template{}, err
		}
		return Template{}, fmt.Errorf("%w: %w", ErrNoUsableFace, err)
	}
	if a.Face == nil || a.Face.MeshScore < p.gate.MinMeshScore {
		return Template{}, fmt.Errorf("%w: no face found", ErrNoUsableFace)
	}
	t, err := p.embed(ctx, pyr, a.Face, &tr)
	if err != nil && ctx.Err() == nil {
		return Template{}, fmt.Errorf("%w: %w", ErrNoUsableFace, err)
	}
	return t, err
}

func (p *Pipeline) analyze(ctx context.Context, b []byte, tr *Trace, measures bool) (*pyramid, *Analysis, error) {
	start := time.Now()
	pyr, err := decodePyramid(ctx, b, p.limits)
	tr.Decode = time.Since(start)
	if err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	a := p.find(pyr, p.detector, tr)
	// The fallback gets its turn when the first detector found nothing the
	// mesh confirms.
	if p.fallback != nil && (a.Face == nil || a.Face.MeshScore < p.gate.MinMeshScore) {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if b := p.find(pyr, p.fallback, tr); b.Face != nil && (a.Face == nil || b.Face.MeshScore > a.Face.MeshScore) {
			a = b
		}
	}
	if measures && a.Face != nil {
		start = time.Now()
		a.Face.Measures = measure(pyr, a.Face.Mesh)
		tr.Quality = time.Since(start)
	}
	return pyr, a, ctx.Err()
}

// find detects the faces with one detector, chooses the user's and runs the
// mesh on it, adding to the trace's times.
func (p *Pipeline) find(pyr *pyramid, d *detector, tr *Trace) *Analysis {
	a := &Analysis{Width: pyr.W, Height: pyr.H}
	start := time.Now()
	dets := d.detect(pyr, p.gate.MinDetectScore, nmsOverlap)
	tr.Detect += time.Since(start)
	if len(dets) == 0 {
		return a
	}
	main := mainFace(dets, pyr.W, pyr.H, p.gate.SecondFaceArea)
	f := &Face{Detection: dets[main]}
	a.Face = f
	a.Others = append(dets[:main:main], dets[main+1:]...)

	start = time.Now()
	crop := p.mesher.cropFromDetection(f.Detection)
	f.Mesh, f.MeshScore = p.mesher.landmarks(pyr, crop)
	f.Pose = poseFromMesh(f.Mesh)
	for range p.meshPasses - 1 {
		next := cropFromMesh(f.Mesh)
		if settled(crop, next, f.Pose, p.gate) {
			break
		}
		crop = next
		f.Mesh, f.MeshScore = p.mesher.landmarks(pyr, crop)
		f.Pose = poseFromMesh(f.Mesh)
	}
	tr.Landmarks += time.Since(start)
	return a
}

// settled reports whether another mesh pass would change nothing that
// matters: the crop re-framed from the landmarks is close to the one they
// came from (centre within 5 % of the side, side within 8 %, turn within 3°),
// so the model would see almost the same pixels, and the pose is more than
// 6° inside the gate's limits, so the second pass's steadier angles could
// not change its decision (the first pass's yaw is off by at most ~2.7°).
// On faces-east-asian one pass and two give the same TAR (85.2 / 85.7 % at
// FAR 1e-4, 77.8 / 77.9 % at 1e-5); a frontal selfie skips ~1.2 ms.
func settled(read, next meshCrop, pose Pose, g Gate) bool {
	shift := math.Hypot(next.centre.X-read.centre.X, next.centre.Y-read.centre.Y) / read.side
	turn := math.Abs(math.Remainder(next.angle-read.angle, 2*math.Pi)) * 180 / math.Pi
	return shift < 0.05 && math.Abs(next.side/read.side-1) < 0.08 && turn < 3 &&
		math.Abs(pose.Yaw) < g.MaxYaw-6 && math.Abs(pose.Pitch) < g.MaxPitch-6
}

// mainFace picks the user's face: of the faces comparable in size to the
// largest (area ratio ≥ comparable), the one nearest the frame's centre. A
// selfie's user is both big and central; taking the largest alone picks the
// neighbour who leans in closer (seen on LFW, whose subject is centred).
// The others are left for the gate to judge.
func mainFace(dets []Detection, w, h int, comparable float64) int {
	largest := 0.0
	for _, d := range dets {
		largest = max(largest, d.area())
	}
	c := Point{float64(w) / 2, float64(h) / 2}
	best, bestDist := 0, math.Inf(1)
	for i, d := range dets {
		if d.area() < comparable*largest {
			continue
		}
		if dist := math.Hypot(d.centre().X-c.X, d.centre().Y-c.Y); dist < bestDist {
			best, bestDist = i, dist
		}
	}
	return best
}

// nmsOverlap is the IoU above which two boxes are one face. Human uses 0.1,
// which also merges two people cheek to cheek, the very case multiple_faces
// must see; 0.3 keeps them apart while BlazeFace's duplicate boxes of one
// face (IoU > 0.6) still merge.
const nmsOverlap = 0.3

func (p *Pipeline) embed(ctx context.Context, pyr *pyramid, f *Face, tr *Trace) (Template, error) {
	if err := ctx.Err(); err != nil {
		return Template{}, err
	}
	start := time.Now()
	defer func() { tr.Embed = time.Since(start) }()
	pts := make([]Point, len(f.Mesh))
	for i, q := range f.Mesh {
		pts[i] = Point{q.X, q.Y}
	}
	lm, err := Landmarks5FromMesh(pts)
	if err != nil {
		return Template{}, err
	}
	return p.embedder.embed(pyr, lm)
}

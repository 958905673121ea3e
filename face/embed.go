package face

import (
	"errors"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/portrait-id/portrait/face/faceapi"
	"github.com/portrait-id/portrait/models"
	"github.com/portrait-id/portrait/nn"
)

// Embedding model identifiers, as stored in Template.Model. A name fixes the
// network, its crop and its input normalisation: templates are comparable
// only under the same name.
const (
	// EmbedFaceAPI is face-api's port of dlib's ResNet-34-like face
	// descriptor (128-d), fed a dlib face chip (150×150, padding 0.25) minus
	// its mean RGB, over 255.
	EmbedFaceAPI = "faceapi-resnet128"
	// EmbedFaceRes is Human's faceres (HSE FaceRes, 1024-d) fed as its
	// upstream was trained: BGR minus the VGG mean pixel, 0..255 scale.
	EmbedFaceRes = "faceres"
	// EmbedFaceResRGB is faceres fed as Human feeds it (RGB, 0..255); kept to
	// measure the difference, not for production.
	EmbedFaceResRGB = "faceres-rgb"
	// EmbedFRFeature is faceplugin's MobileFaceNet-ArcFace (fr_feature.onnx,
	// 512-d) on the ArcFace 112×112 crop, fed BGR as (v − 127) / 128: on
	// faces-dev that beat RGB by 2–3 points of TAR (see /work/shared's
	// MODELS.md and the README's accuracy report).
	EmbedFRFeature = "fr_feature"
)

// FlipSuffix marks templates averaged over the face and its mirror image.
const FlipSuffix = "+flip"

// DefaultEmbedding is the embedding model the service uses unless
// configured otherwise, chosen by `portrait bench accuracy` on faces-dev and
// faces-east-asian: fr_feature. TAR at FAR 1e-4 among East-Asian faces
// (faces-dev / faces-east-asian): fr_feature 96.7 % / 85.2 %, with flip
// 98.0 % / 84.5 %, the former default faceapi-resnet128+faceres
// 72.5 % / 42.6 %. Flip averaging is no better on the larger set and
// doubles the embedding time (≈ 2.3 → 4.6 ms), past the 8 ms of a whole
// verification, so it is left to configuration.
const DefaultEmbedding = EmbedFRFeature

// network is one descriptor network: it runs a prepared crop (NHWC, size²×3)
// and writes the raw descriptor into out.
type network interface {
	run(in, out []float32) error
	dim() int
	close() error
}

// embedSpec is how a model wants its face: the crop, the five points'
// places in it, and the per-channel input transform from 0..255 RGB
// (in = (v − mean[c]) · mul[c], channels in order perm), and its weight in a
// fusion.
type embedSpec struct {
	size     int
	template [5]Point
	perm     [3]int // input channel i takes RGB channel perm[i]
	mean     [3]float32
	mul      [3]float32
	// weight is the model's share of a fused template's cosine (normalised
	// over the fused models). Chosen on faces-dev among 0.3–0.9 for
	// faceapi: at 0.85 / 0.15 the fusion was best at FAR 1e-4 (see
	// DefaultEmbedding); an even split was worse than faceapi alone at FAR
	// 1e-3.
	weight float32
}

var embedSpecs = map[string]embedSpec{
	EmbedFaceAPI: {size: 150, template: dlibTemplate, perm: [3]int{0, 1, 2},
		mean: [3]float32{122.782, 117.001, 104.298}, mul: splat(1.0 / 255), weight: 0.85},
	EmbedFaceRes: {size: 224, template: scaleTemplate(arcFaceTemplate, 112, 224, faceResZoom), perm: [3]int{2, 1, 0},
		mean: [3]float32{103.939, 116.779, 123.68}, mul: splat(1), weight: 0.15},
	EmbedFaceResRGB: {size: 224, template: scaleTemplate(arcFaceTemplate, 112, 224, faceResZoom), perm: [3]int{0, 1, 2},
		mul: splat(1), weight: 0.15},
	EmbedFRFeature: frFeatureCard.spec(),
}

// frFeatureCard is the shipped ONNX descriptor's card, as an operator's
// model would have one (File is inside the pinned package).
var frFeatureCard = ModelCard{
	Name: EmbedFRFeature, File: "model/fr_feature.onnx", InputSize: 112, Channels: "BGR",
	Mean: [3]float64{127, 127, 127}, Std: [3]float64{128, 128, 128}, Template: TemplateArcFace, Output: 512,
	Source: "npm faceplugin-face-recognition-js@0.0.1 (MIT)",
}

func splat(v float32) [3]float32 { return [3]float32{v, v, v} }

// isBuiltin reports whether name is a descriptor this build ships.
func isBuiltin(name string) bool {
	_, ok := embedSpecs[name]
	return ok
}

// faceResZoom widens the ArcFace crop for faceres, which was trained on
// VGGFace2's looser crops. Measured on faces-dev (faceres alone, TAR at FAR
// 1e-3 / 1e-4): zoom 0.91 84.7 / 69.8 %, 1.0 87.7 / 73.9 %, 1.1 88.6 /
// 75.2 %, 1.3 87.1 / 71.9 %, 1.5 81.1 / 64.3 %.
const faceResZoom = 1.1

// EmbedderConfig chooses the embedding.
type EmbedderConfig struct {
	// Model names one or more descriptors joined by "+" — the built-in
	// EmbedFRFeature, EmbedFaceAPI, EmbedFaceRes, EmbedFaceResRGB, or an
	// operator's model added with AddModel — optionally followed by
	// FlipSuffix: several models are fused (their normalised descriptors
	// concatenated, each scaled so the cosine is the weighted mean of
	// theirs). "" means DefaultEmbedding.
	Model string
}

// Embedder turns a face, given by its five landmarks in a decoded image,
// into a Template. It is safe for concurrent use.
type Embedder struct {
	name  string
	parts []*embedPart
	flip  bool
	dim   int
}

// embedPart is one network of an embedder with its crop and scratch.
type embedPart struct {
	name string
	spec embedSpec
	net  network
	bufs sync.Pool // *embedScratch
}

type embedScratch struct {
	crop, in, out []float32
}

// OpenEmbedder loads the configured model from the models cache dir.
func OpenEmbedder(dir string, c EmbedderConfig) (*Embedder, error) {
	name := c.Model
	if name == "" {
		name = DefaultEmbedding
	}
	e := &Embedder{name: name}
	for i, base := range strings.Split(name, "+") {
		if base == strings.TrimPrefix(FlipSuffix, "+") && i > 0 && !e.flip {
			e.flip = true
			continue
		}
		if e.flip || slices.ContainsFunc(e.parts, func(p *embedPart) bool { return p.name == base }) {
			e.Close()
			return nil, fmt.Errorf("open embedder: bad model %q (want descriptors joined by \"+\", each once, optionally ending in %q)", name, FlipSuffix)
		}
		part, err := openPart(dir, base)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("open embedder %s: %w", name, err)
		}
		e.parts = append(e.parts, part)
		e.dim += part.net.dim()
	}
	return e, nil
}

// openPart loads one descriptor: a built-in one from its pinned package, or
// an operator's from its card.
func openPart(dir, name string) (*embedPart, error) {
	var net network
	var err error
	spec, ok := embedSpecs[name]
	switch {
	case !ok:
		var c ModelCard
		if c, err = LoadCard(dir, name); err != nil {
			return nil, fmt.Errorf("%w (built in: %s)", err, strings.Join(BuiltinEmbeddings(), ", "))
		}
		spec = c.spec()
		net, err = openCardNet(filepath.Join(OperatorDir(dir), name), c)
	case name == EmbedFaceAPI:
		net, err = openFaceAPI(models.Path(dir, "face-api", "model/face_recognition_model-weights_manifest.json"))
	case name == EmbedFRFeature:
		net, err = openONNXNet(models.Path(dir, "faceplugin", frFeatureCard.File), frFeatureCard.InputSize, frFeatureCard.Output)
	default:
		net, err = openGraphNet(models.Path(dir, "human", "models/faceres.json"), spec.size, 1024)
	}
	if err != nil {
		return nil, err
	}
	return &embedPart{name: name, spec: spec, net: net}, nil
}

// BuiltinEmbeddings lists the descriptors this build ships, sorted.
func BuiltinEmbeddings() []string {
	out := make([]string, 0, len(embedSpecs))
	for n := range embedSpecs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Model is the name templates of this embedder carry.
func (e *Embedder) Model() string { return e.name }

// Close releases the models.
func (e *Embedder) Close() error {
	var errs []error
	for _, p := range e.parts {
		errs = append(errs, p.net.close())
	}
	return errors.Join(errs...)
}

// Embed aligns the face at lm in img and embeds it.
func (e *Embedder) Embed(img image.Image, lm Landmarks5) (Template, error) {
	return e.embed(newPyramid(toRGB(img, 1)), lm)
}

// embed is Embed on the pipeline's decoded picture.
func (e *Embedder) embed(p *pyramid, lm Landmarks5) (Template, error) {
	if len(e.parts) == 1 {
		v, err := e.parts[0].embed(p, lm, e.flip)
		return Template{Model: e.name, Vector: v}, err
	}
	// Fused: each unit descriptor scaled by √(its share), so the result is
	// unit length and its cosine the weighted mean of the models' cosines.
	var total float32
	for _, part := range e.parts {
		total += part.spec.weight
	}
	v := make([]float32, 0, e.dim)
	for _, part := range e.parts {
		d, err := part.embed(p, lm, e.flip)
		if err != nil {
			return Template{}, err
		}
		k := float32(math.Sqrt(float64(part.spec.weight / total)))
		for _, x := range d {
			v = append(v, x*k)
		}
	}
	return Template{Model: e.name, Vector: v}, nil
}

// embed returns the part's normalised descriptor of the face.
func (e *embedPart) embed(p *pyramid, lm Landmarks5, flip bool) ([]float32, error) {
	t, err := alignTransform(e.spec.template, lm)
	if err != nil {
		return nil, err
	}
	n := e.spec.size
	sc, _ := e.bufs.Get().(*embedScratch)
	if sc == nil {
		sc = &embedScratch{crop: make([]float32, n*n*3), in: make([]float32, n*n*3), out: make([]float32, e.net.dim())}
	}
	defer e.bufs.Put(sc)
	p.sample(sc.crop, n, n, t, 1, 0, true)
	e.prepare(sc.crop, sc.in, false)
	if err := e.net.run(sc.in, sc.out); err != nil {
		return nil, err
	}
	v := normalized(sc.out)
	if !flip {
		return v, nil
	}
	// Average the face with its mirror image: both halves of the face then
	// count alike, which steadies the descriptor against slight yaw.
	e.prepare(sc.crop, sc.in, true)
	if err := e.net.run(sc.in, sc.out); err != nil {
		return nil, err
	}
	for i, x := range normalized(sc.out) {
		v[i] += x
	}
	return normalized(v), nil
}

// prepare writes the network input from the RGB crop, mirrored if asked.
func (e *embedPart) prepare(crop, in []float32, mirror bool) {
	s := &e.spec
	n := s.size
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			src := crop[3*(y*n+x):]
			xx := x
			if mirror {
				xx = n - 1 - x
			}
			dst := in[3*(y*n+xx):]
			for c := 0; c < 3; c++ {
				dst[c] = (src[s.perm[c]] - s.mean[c]) * s.mul[c]
			}
		}
	}
}

// normalized returns a new L2-normalised copy of v.
func normalized(v []float32) []float32 {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	out := slices.Clone(v)
	if ss == 0 {
		return out
	}
	k := float32(1 / math.Sqrt(ss))
	for i := range out {
		out[i] *= k
	}
	return out
}

// graphNet is a TensorFlow.js graph model whose output with dim values is
// the descriptor.
type graphNet struct {
	m   *nn.Model
	out int
	n   int
}

func openGraphNet(path string, size, dim int) (*graphNet, error) {
	m, err := nn.LoadGraphModel(path)
	if err != nil {
		return nil, err
	}
	return newGraphNet(path, m, size, dim)
}

// newGraphNet checks that m takes a size×size RGB crop and has a [1 dim]
// output (dim 0: its only [1 N] output, whatever N), and wraps it.
func newGraphNet(path string, m *nn.Model, size, dim int) (*graphNet, error) {
	in := m.Inputs()
	if len(in) != 1 || !slices.Equal(in[0].Shape, []int{1, size, size, 3}) {
		return nil, fmt.Errorf("model %s: input %v, want [1 %d %d 3]", path, in, size, size)
	}
	found := -1
	for i, o := range m.Outputs() {
		if len(o.Shape) != 2 || o.Shape[0] != 1 || (dim != 0 && o.Shape[1] != dim) {
			continue
		}
		if dim != 0 {
			return &graphNet{m: m, out: i, n: dim}, nil
		}
		if found >= 0 {
			return nil, fmt.Errorf("model %s: several [1 N] outputs %v: say which length is the descriptor", path, m.Outputs())
		}
		found = i
	}
	if found < 0 {
		return nil, fmt.Errorf("model %s: no [1 %d] output among %v", path, dim, m.Outputs())
	}
	return &graphNet{m: m, out: found, n: m.Outputs()[found].Shape[1]}, nil
}

func (g *graphNet) run(in, out []float32) error {
	s := g.m.Acquire()
	defer s.Release()
	copy(s.Input(0), in)
	s.Run()
	copy(out, s.Output(g.out))
	return nil
}

func (g *graphNet) dim() int { return g.n }

func (g *graphNet) close() error { return nil }

// faceAPINet adapts faceapi.Net to network.
type faceAPINet struct{ n *faceapi.Net }

func openFaceAPI(manifest string) (*faceAPINet, error) {
	n, err := faceapi.Load(manifest)
	if err != nil {
		return nil, err
	}
	return &faceAPINet{n}, nil
}

func (f *faceAPINet) run(in, out []float32) error { return f.n.Descriptor(in, out) }

func (f *faceAPINet) dim() int { return faceapi.Dim }

func (f *faceAPINet) close() error { return nil }

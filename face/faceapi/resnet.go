// Package faceapi runs face-api's face descriptor, a TensorFlow.js port of
// dlib's ResNet-34-like face recognition network (128-d), which ships as a
// weights manifest only: its architecture is written here, after face-api's
// src/faceRecognitionNet, on the inference runtime's op API.
package faceapi

import (
	"fmt"
	"strings"
	"sync"

	"github.com/portrait-id/portrait/nn"
)

const (
	// InputSize is the side of the square face chip the network takes.
	InputSize = 150
	// Dim is the descriptor length.
	Dim = 128
)

// Net is the loaded network. It is immutable and safe for concurrent use;
// each call borrows its activations from a pool, so steady state allocates
// nothing.
type Net struct {
	stem    layer // 7×7 stride 2 valid, relu; then 3×3 max pool stride 2
	pooled  shape // after the max pool
	blocks  []block
	fc      *nn.Dense
	scratch int // im2col floats the largest convolution needs
	pool    sync.Pool
}

// shape is an NHWC activation shape (batch 1, square).
type shape struct{ h, c int }

func (s shape) dims() [4]int { return [4]int{1, s.h, s.h, s.c} }

func (s shape) len() int { return s.h * s.h * s.c }

// layer is one conv layer of face-api (convolution, bias, per-channel scale
// layer, optional relu) with the scale folded into the weights.
type layer struct {
	conv    *nn.Conv2D
	in, out shape
}

// block is face-api's residual layer: conv-relu-conv plus the input, relu.
// A down block halves the size with a strided valid convolution, and its
// shortcut is a 2×2 average pool zero-padded to the new channel count.
type block struct {
	conv1, conv2 layer
	down         bool
	short        shape // the shortcut's shape (down blocks: the pooled input)
}

// maxAct is the largest activation (the stem's 72×72×32 output).
const maxAct = 72 * 72 * 32

// Load reads the network's weights manifest and shards.
func Load(manifest string) (*Net, error) {
	w, err := nn.LoadWeightsManifest(manifest)
	if err != nil {
		return nil, fmt.Errorf("load face-api descriptor: %w", err)
	}
	n := &Net{}
	in := shape{InputSize, 3}
	if n.stem, err = newLayer(w, "conv32_down", in, 2, false, true); err != nil {
		return nil, err
	}
	n.pooled = shape{(n.stem.out.h-3)/2 + 1, n.stem.out.c}
	x := n.pooled
	for _, name := range []string{
		"conv32_1", "conv32_2", "conv32_3",
		"conv64_down", "conv64_1", "conv64_2", "conv64_3",
		"conv128_down", "conv128_1", "conv128_2",
		"conv256_down", "conv256_1", "conv256_2", "conv256_down_out",
	} {
		b := block{down: strings.HasSuffix(name, "_down") || strings.HasSuffix(name, "_down_out"), short: x}
		stride := 1
		if b.down {
			stride = 2
			b.short = shape{(x.h-2)/2 + 1, x.c}
		}
		if b.conv1, err = newLayer(w, name+"/conv1", x, stride, !b.down, true); err != nil {
			return nil, err
		}
		if b.conv2, err = newLayer(w, name+"/conv2", b.conv1.out, 1, true, false); err != nil {
			return nil, err
		}
		if b.conv2.out.h > b.short.h || b.short.h > b.conv2.out.h+1 {
			return nil, fmt.Errorf("load face-api descriptor: %s output %d wide, shortcut %d", name, b.conv2.out.h, b.short.h)
		}
		x = shape{b.short.h, b.conv2.out.c}
		n.blocks = append(n.blocks, b)
	}
	fc, ok := w["fc"]
	if !ok || len(fc.Shape) != 2 || fc.Shape[0] != x.c || fc.Shape[1] != Dim {
		return nil, fmt.Errorf("load face-api descriptor: fc weight missing or not [%d %d]", x.c, Dim)
	}
	if n.fc, err = nn.NewDense(fc, nn.Epilogue{}); err != nil {
		return nil, fmt.Errorf("load face-api descriptor: %w", err)
	}
	for _, l := range n.layers() {
		d := l.in.dims()
		n.scratch = max(n.scratch, l.conv.ScratchLen(d[:]))
	}
	return n, nil
}

func (n *Net) layers() []layer {
	out := []layer{n.stem}
	for _, b := range n.blocks {
		out = append(out, b.conv1, b.conv2)
	}
	return out
}

// newLayer loads prefix's conv layer for input in: "same" padding or
// "valid", with the scale layer folded into filter and bias.
func newLayer(w map[string]*nn.Tensor, prefix string, in shape, stride int, same, relu bool) (layer, error) {
	get := func(name string) (*nn.Tensor, error) {
		t, ok := w[prefix+"/"+name]
		if !ok {
			return nil, fmt.Errorf("load face-api descriptor: weight %s/%s missing", prefix, name)
		}
		return t, nil
	}
	var ts [4]*nn.Tensor
	for i, name := range []string{"conv/filters", "conv/bias", "scale/weights", "scale/biases"} {
		t, err := get(name)
		if err != nil {
			return layer{}, err
		}
		ts[i] = t
	}
	filter, bias, err := nn.FoldScaleShift(ts[0], ts[1].Data, ts[2].Data, ts[3].Data)
	if err != nil {
		return layer{}, fmt.Errorf("load face-api descriptor %s: %w", prefix, err)
	}
	win := nn.Window{StrideH: stride, StrideW: stride, Padding: nn.PadValid}
	if same {
		win.Padding = nn.PadSame
	}
	ep := nn.Epilogue{Bias: bias}
	if relu {
		ep.Act = nn.ActRelu
	}
	conv, err := nn.NewConv2D(filter, win, ep)
	if err != nil {
		return layer{}, fmt.Errorf("load face-api descriptor %s: %w", prefix, err)
	}
	d := in.dims()
	out, err := conv.OutShape(d[:])
	if err != nil || out[1] != out[2] {
		return layer{}, fmt.Errorf("load face-api descriptor %s: input %v: %v", prefix, d, err)
	}
	return layer{conv: conv, in: in, out: shape{out[1], out[3]}}, nil
}

// scratch is one inference's memory: activation buffers and tensor
// headers over them, re-pointed per layer so nothing is allocated.
type scratch struct {
	a, b, mid, short, col []float32
	feat, out             []float32
	t                     [4]nn.Tensor
	shapes                [4][4]int
}

func (n *Net) newScratch() *scratch {
	s := &scratch{a: make([]float32, maxAct), b: make([]float32, maxAct), mid: make([]float32, maxAct),
		short: make([]float32, maxAct), col: make([]float32, n.scratch), feat: make([]float32, 256), out: make([]float32, Dim)}
	for i := range s.t {
		s.t[i].Shape = s.shapes[i][:]
	}
	return s
}

// view points header i at buf with shape sh.
func (s *scratch) view(i int, buf []float32, sh shape) *nn.Tensor {
	s.shapes[i] = sh.dims()
	s.t[i].Shape = s.shapes[i][:]
	s.t[i].Data = buf[:sh.len()]
	return &s.t[i]
}

// Descriptor runs the network on in (InputSize²×3, NHWC, already
// normalised: (RGB − mean) / 255) and writes the raw descriptor to out.
func (n *Net) Descriptor(in, out []float32) error {
	s, _ := n.pool.Get().(*scratch)
	if s == nil {
		s = n.newScratch()
	}
	defer n.pool.Put(s)
	if len(in) != InputSize*InputSize*3 || len(out) < Dim {
		return fmt.Errorf("face-api descriptor: input %d values, output room %d", len(in), len(out))
	}
	if err := n.stem.conv.Forward(s.view(1, s.a, n.stem.out), s.view(0, in, n.stem.in), s.col); err != nil {
		return err
	}
	if err := nn.MaxPool(s.view(2, s.b, n.pooled), &s.t[1], nn.Window{KH: 3, KW: 3, StrideH: 2, StrideW: 2}); err != nil {
		return err
	}
	x, y := s.b, s.a
	for i := range n.blocks {
		if err := n.blocks[i].run(x, y, s); err != nil {
			return err
		}
		x, y = y, x
	}
	last := n.blocks[len(n.blocks)-1]
	final := shape{last.short.h, last.conv2.out.c}
	feat := s.view(1, s.feat, shape{1, final.c})
	if err := nn.Mean(feat, s.view(0, x, final), 1, 2); err != nil {
		return err
	}
	res := &s.t[2]
	res.Shape, res.Data = s.shapes[2][:2], out[:Dim]
	s.shapes[2][0], s.shapes[2][1] = 1, Dim
	feat.Shape, feat.Data = s.shapes[1][:2], feat.Data[:final.c]
	s.shapes[1][0], s.shapes[1][1] = 1, final.c
	return n.fc.Forward(res, feat)
}

// run computes the block on x into y.
func (b *block) run(x, y []float32, s *scratch) error {
	if err := b.conv1.conv.Forward(s.view(1, s.mid, b.conv1.out), s.view(0, x, b.conv1.in), s.col); err != nil {
		return err
	}
	if err := b.conv2.conv.Forward(s.view(2, y, b.conv2.out), &s.t[1], s.col); err != nil {
		return err
	}
	if !b.down {
		for i, v := range x[:b.conv1.in.len()] {
			y[i] = max(y[i]+v, 0)
		}
		return nil
	}
	if err := nn.AvgPool(s.view(3, s.short, b.short), &s.t[0], nn.Window{KH: 2, KW: 2, StrideH: 2, StrideW: 2}); err != nil {
		return err
	}
	// out = relu(conv output + shortcut), where the shortcut's channels
	// past its own are zero and, when the pooled map is one wider than the
	// convolution's (odd sizes), face-api pads the convolution's output
	// with a zero row and column at the bottom and right. Walk from the end:
	// each conv pixel moves to an index at or after its own.
	oh, ph, co, ci := b.conv2.out.h, b.short.h, b.conv2.out.c, b.short.c
	for py := ph - 1; py >= 0; py-- {
		for px := ph - 1; px >= 0; px-- {
			d := y[(py*ph+px)*co : (py*ph+px+1)*co]
			if py < oh && px < oh {
				copy(d, y[(py*oh+px)*co:(py*oh+px+1)*co])
			} else {
				clear(d)
			}
			sc := s.short[(py*ph+px)*ci : (py*ph+px+1)*ci]
			for ch := range d {
				v := d[ch]
				if ch < ci {
					v += sc[ch]
				}
				d[ch] = max(v, 0)
			}
		}
	}
	return nil
}

// Package faceapi runs face-api's face descriptor, a TensorFlow.js port of
// dlib's ResNet-34-like face recognition network (128-d), which ships as a
// weights manifest only: its architecture is written here, after face-api's
// src/faceRecognitionNet, and runs on the inference runtime's kernels.
package faceapi

import (
	"fmt"
	"strings"
	"sync"

	"github.com/portrait-id/portrait/nn"
	"github.com/portrait-id/portrait/nn/kernel"
)

const (
	// InputSize is the side of the square face chip the network takes.
	InputSize = 150
	// Dim is the descriptor length.
	Dim = 128
)

// Net is the loaded network. It is immutable and safe for concurrent use.
type Net struct {
	stem   *conv // 7×7 stride 2, then 3×3 max pool stride 2
	blocks []block
	fc     *kernel.PackedB
	pool   sync.Pool // *scratch
}

// block is face-api's residual layer: conv-relu-conv plus the input, relu.
// A down block halves the size with a strided valid convolution, and its
// shortcut is a 2×2 average pool zero-padded to the new channel count.
type block struct {
	conv1, conv2 *conv
	down         bool
}

// Load reads the network's weights manifest and shards.
func Load(manifest string) (*Net, error) {
	w, err := nn.LoadWeightsManifest(manifest)
	if err != nil {
		return nil, fmt.Errorf("load face-api descriptor: %w", err)
	}
	n := &Net{}
	if n.stem, err = newConv(w, "conv32_down", 2, false); err != nil {
		return nil, err
	}
	for _, name := range []string{
		"conv32_1", "conv32_2", "conv32_3",
		"conv64_down", "conv64_1", "conv64_2", "conv64_3",
		"conv128_down", "conv128_1", "conv128_2",
		"conv256_down", "conv256_1", "conv256_2", "conv256_down_out",
	} {
		down := strings.HasSuffix(name, "_down") || strings.HasSuffix(name, "_down_out")
		var b block
		b.down = down
		stride := 1
		if down {
			stride = 2
		}
		if b.conv1, err = newConv(w, name+"/conv1", stride, !down); err != nil {
			return nil, err
		}
		if b.conv2, err = newConv(w, name+"/conv2", 1, true); err != nil {
			return nil, err
		}
		n.blocks = append(n.blocks, b)
	}
	fc, ok := w["fc"]
	if !ok || len(fc.Shape) != 2 || fc.Shape[0] != 256 || fc.Shape[1] != Dim {
		return nil, fmt.Errorf("load face-api descriptor: fc weight missing or not [256 %d]", Dim)
	}
	n.fc = kernel.PackB(256, Dim, fc.Data, Dim)
	return n, nil
}

// scratch is one inference's activations: two ping-pong buffers, one for
// the block's middle, one for the shortcut, and the im2col tile.
type scratch struct {
	a, b, mid, short, col []float32
}

// maxAct is the largest activation (the stem's 72×72×32 output).
const maxAct = 72 * 72 * 32

// Descriptor runs the network on in (InputSize²×3, NHWC, already
// normalised: (RGB − mean) / 255) and writes the raw descriptor to out.
func (n *Net) Descriptor(in, out []float32) {
	s, _ := n.pool.Get().(*scratch)
	if s == nil {
		s = &scratch{a: make([]float32, maxAct), b: make([]float32, maxAct), mid: make([]float32, maxAct),
			short: make([]float32, maxAct), col: make([]float32, colBudget)}
	}
	defer n.pool.Put(s)

	h := InputSize
	oh := n.stem.outSize(h)
	n.stem.run(in, h, s.a, true, s.col)
	h, c := maxPool3s2(s.a, oh, n.stem.cout, s.b), n.stem.cout
	x, y := s.b, s.a
	for _, b := range n.blocks {
		h, c = b.run(x, h, c, y, s)
		x, y = y, x
	}
	// Global average pool, then the fully connected layer.
	feat := s.mid[:c]
	clear(feat)
	for p := 0; p < h*h; p++ {
		for i, v := range x[p*c : p*c+c] {
			feat[i] += v
		}
	}
	inv := 1 / float32(h*h)
	for i := range feat {
		feat[i] *= inv
	}
	kernel.Gemm(1, feat, c, n.fc, out, Dim, kernel.Epilogue{})
}

// run computes the block on x (h×h×c) into y and returns y's size and depth.
func (b *block) run(x []float32, h, c int, y []float32, s *scratch) (int, int) {
	oh := b.conv1.outSize(h)
	b.conv1.run(x, h, s.mid, true, s.col)
	b.conv2.run(s.mid, oh, y, false, s.col)
	co := b.conv2.cout
	if !b.down {
		for i, v := range x[:h*h*c] {
			y[i] = max(y[i]+v, 0)
		}
		return h, co
	}
	// Shortcut: 2×2 average pool (valid), channels zero-padded to co. When
	// the pooled map is one larger than the convolution's (odd sizes),
	// face-api pads the convolution's output with a zero row and column at
	// the bottom and right.
	ph := (h-2)/2 + 1
	if ph != oh {
		// Re-lay the oh-wide output ph wide, from the end, since each pixel
		// moves to an index at or after its own.
		for py := oh - 1; py >= 0; py-- {
			for px := oh - 1; px >= 0; px-- {
				copy(y[(py*ph+px)*co:(py*ph+px+1)*co], y[(py*oh+px)*co:(py*oh+px+1)*co])
			}
		}
		for py := 0; py < ph; py++ {
			for px := 0; px < ph; px++ {
				if py >= oh || px >= oh {
					clear(y[(py*ph+px)*co : (py*ph+px+1)*co])
				}
			}
		}
	}
	for py := 0; py < ph; py++ {
		for px := 0; px < ph; px++ {
			d := y[(py*ph+px)*co:]
			for ch := 0; ch < c; ch++ {
				i0 := ((2*py)*h + 2*px) * c
				i1 := i0 + h*c
				v := (x[i0+ch] + x[i0+c+ch] + x[i1+ch] + x[i1+c+ch]) * 0.25
				d[ch] += v
			}
			for ch := range d[:co] {
				d[ch] = max(d[ch], 0)
			}
		}
	}
	return ph, co
}

// maxPool3s2 is a 3×3 max pool, stride 2, valid padding, of x (h×h×c) into
// y; it returns the output size.
func maxPool3s2(x []float32, h, c int, y []float32) int {
	oh := (h-3)/2 + 1
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < oh; ox++ {
			d := y[(oy*oh+ox)*c : (oy*oh+ox+1)*c]
			copy(d, x[((2*oy)*h+2*ox)*c:])
			for ky := 0; ky < 3; ky++ {
				for kx := 0; kx < 3; kx++ {
					src := x[((2*oy+ky)*h+2*ox+kx)*c:]
					for ch := range d {
						d[ch] = max(d[ch], src[ch])
					}
				}
			}
		}
	}
	return oh
}

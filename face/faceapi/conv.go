package faceapi

import (
	"fmt"

	"github.com/portrait-id/portrait/nn"
	"github.com/portrait-id/portrait/nn/kernel"
)

// conv is one of face-api's conv layers: convolution, bias, then a
// per-channel scale layer (x·w + b). The scale is folded into the filter and
// bias at load, so a layer is one GEMM with a fused bias (and relu).
type conv struct {
	k, stride, cin, cout int
	same                 bool // TF "same" padding (stride 1 only here); else "valid"
	w                    *kernel.PackedB
	bias                 []float32
	relu                 kernel.Epilogue
	plain                kernel.Epilogue
}

// colBudget bounds an im2col tile (float32s) so it stays in cache.
const colBudget = 1 << 16

func newConv(w map[string]*nn.Tensor, prefix string, stride int, same bool) (*conv, error) {
	get := func(name string, rank int) (*nn.Tensor, error) {
		t, ok := w[prefix+"/"+name]
		if !ok || len(t.Shape) != rank {
			return nil, fmt.Errorf("load face-api descriptor: weight %s/%s missing or not rank %d", prefix, name, rank)
		}
		return t, nil
	}
	f, err := get("conv/filters", 4)
	if err != nil {
		return nil, err
	}
	kh, kw, cin, cout := f.Shape[0], f.Shape[1], f.Shape[2], f.Shape[3]
	if kh != kw {
		return nil, fmt.Errorf("load face-api descriptor: %s filter %v not square", prefix, f.Shape)
	}
	var vecs [3][]float32
	for i, name := range []string{"conv/bias", "scale/weights", "scale/biases"} {
		t, err := get(name, 1)
		if err != nil {
			return nil, err
		}
		if len(t.Data) != cout {
			return nil, fmt.Errorf("load face-api descriptor: %s/%s has %d values, want %d", prefix, name, len(t.Data), cout)
		}
		vecs[i] = t.Data
	}
	bias, scale, shift := vecs[0], vecs[1], vecs[2]
	filt := make([]float32, len(f.Data))
	for i, v := range f.Data {
		filt[i] = v * scale[i%cout]
	}
	b := make([]float32, cout)
	for i := range b {
		b[i] = bias[i]*scale[i] + shift[i]
	}
	c := &conv{k: kh, stride: stride, cin: cin, cout: cout, same: same, bias: b,
		w: kernel.PackB(kh*kw*cin, cout, filt, cout)}
	c.relu = kernel.Epilogue{Bias: b, Act: kernel.ActRelu}
	c.plain = kernel.Epilogue{Bias: b}
	return c, nil
}

func (c *conv) pad() int {
	if c.same {
		return (c.k - 1) / 2
	}
	return 0
}

func (c *conv) outSize(h int) int { return (h+2*c.pad()-c.k)/c.stride + 1 }

// run convolves x (h×h×cin) into y (outSize×outSize×cout), tile by tile of
// output pixels through im2col into col.
func (c *conv) run(x []float32, h int, y []float32, relu bool, col []float32) {
	ep := &c.plain
	if relu {
		ep = &c.relu
	}
	oh := c.outSize(h)
	depth := c.k * c.k * c.cin
	tile := max(len(col)/depth, 1)
	pad := c.pad()
	for p0 := 0; p0 < oh*oh; p0 += tile {
		p1 := min(p0+tile, oh*oh)
		d := 0
		for p := p0; p < p1; p++ {
			oy, ox := p/oh, p%oh
			for ky := 0; ky < c.k; ky++ {
				iy := oy*c.stride - pad + ky
				for kx := 0; kx < c.k; kx++ {
					ix := ox*c.stride - pad + kx
					dst := col[d : d+c.cin]
					if iy < 0 || iy >= h || ix < 0 || ix >= h {
						clear(dst)
					} else {
						copy(dst, x[(iy*h+ix)*c.cin:])
					}
					d += c.cin
				}
			}
		}
		kernel.Gemm(p1-p0, col, depth, c.w, y[p0*c.cout:], c.cout, *ep)
	}
}

package nn

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
)

// LoadONNX loads an ONNX model (weights inside the file, float32, opset 7 or
// later) and plans its execution like LoadGraphModel. The runtime is NHWC:
// a rank-4 input declared [N,C,H,W] is fed as [1,H,W,C] (Inputs reports that
// shape), and a rank-4 output comes out NHWC too; other ranks keep the
// model's own layout. Weights are converted to NHWC once, here.
func LoadONNX(path string) (*Model, error) {
	m, err := loadONNX(path)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return m, nil
}

func loadONNX(path string) (*Model, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return buildONNX(path, raw)
}

// buildONNX plans the model serialised in raw; path names it.
func buildONNX(path string, raw []byte) (*Model, error) {
	om, err := parseONNX(raw)
	if err != nil {
		return nil, err
	}
	if om.opset < 7 {
		// Older opsets differ in attributes the translation does not read.
		return nil, fmt.Errorf("ai.onnx opset %d: only 7 and later are supported", om.opset)
	}
	b := &onnxBuilder{vals: map[string]onnxValue{}, opset: om.opset}
	inputs, outputs, names, err := b.build(&om.graph)
	if err != nil {
		return nil, err
	}
	return buildModel(path, inputs, outputs, names)
}

// onnxValue is a tensor of the ONNX graph as the runtime holds it: the node
// computing it and the ONNX (logical) shape. A rank-4 value in nhwc layout
// is stored [N,H,W,C] for its logical [N,C,H,W].
type onnxValue struct {
	n     *node
	shape []int
	nhwc  bool
}

func (v onnxValue) isConst() bool { return v.n.isConst() }

// nchwToNHWC and nhwcToNCHW are the axis permutations between the layouts.
var (
	nchwToNHWC = []int{0, 2, 3, 1}
	nhwcToNCHW = []int{0, 3, 1, 2}
)

type onnxBuilder struct {
	vals  map[string]onnxValue
	opset int64
	seq   int
}

func (b *onnxBuilder) build(g *onnxGraph) (inputs, outputs []*node, names []string, err error) {
	for i := range g.inits {
		t := &g.inits[i]
		b.vals[t.name] = b.constant(t.name, t.dims, t.data)
	}
	for _, in := range g.inputs {
		if _, isInit := b.vals[in.name]; isInit {
			continue // older exporters list initializers as inputs too
		}
		if in.dtype != onnxFloat {
			return nil, nil, nil, fmt.Errorf("input %s: element type %d, only float32 is supported", in.name, in.dtype)
		}
		shape := slices.Clone(in.dims)
		for i, d := range shape {
			if d < 0 {
				if i != 0 {
					return nil, nil, nil, fmt.Errorf("input %s: dimension %d of %v unknown: only the batch may be", in.name, i, in.dims)
				}
				shape[i] = 1 // batch fixed to 1
			}
		}
		if err := checkElems(shape); err != nil {
			return nil, nil, nil, fmt.Errorf("input %s: %w", in.name, err)
		}
		v := onnxValue{shape: shape}
		stored := shape
		if len(shape) == 4 {
			v.nhwc = true
			stored = permute(shape, nchwToNHWC)
		}
		v.n = &node{name: in.name, op: opInput, shape: stored}
		b.vals[in.name] = v
		inputs = append(inputs, v.n)
	}
	if len(g.nodes) > maxNodes {
		return nil, nil, nil, fmt.Errorf("%d nodes, more than %d", len(g.nodes), maxNodes)
	}
	for i := range g.nodes {
		n := &g.nodes[i]
		f := onnxOps[n.op]
		switch {
		case n.domain != "" && n.domain != "ai.onnx":
			err = fmt.Errorf("operator domain %q is not supported", n.domain)
		case f == nil:
			err = fmt.Errorf("unsupported op %s", n.op)
		default:
			err = f(b, n, n.outName())
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("node %s (%s): %w", n.name, n.op, err)
		}
	}
	for _, o := range g.outputs {
		v, ok := b.vals[o.name]
		if !ok {
			return nil, nil, nil, fmt.Errorf("output %s is not computed by any node", o.name)
		}
		outputs = append(outputs, v.n)
		names = append(names, o.name)
	}
	if len(inputs) == 0 || len(outputs) == 0 {
		return nil, nil, nil, fmt.Errorf("graph has %d inputs and %d outputs", len(inputs), len(outputs))
	}
	return inputs, outputs, names, nil
}

func permute(s, perm []int) []int {
	out := make([]int, len(perm))
	for i, p := range perm {
		out[i] = s[p]
	}
	return out
}

func (b *onnxBuilder) constant(name string, shape []int, data []float32) onnxValue {
	return onnxValue{n: &node{name: name, op: opConst, shape: shape, val: data}, shape: shape}
}

// add creates and infers a runtime node.
func (b *onnxBuilder) add(name string, o op, a attrs, in ...*node) (*node, error) {
	n := &node{name: name, op: o, attrs: a, in: in}
	if err := inferNode(n); err != nil {
		return nil, err
	}
	return n, nil
}

// tmp names a helper node the ONNX graph does not have.
func (b *onnxBuilder) tmp(base, what string) string {
	b.seq++
	return base + "/" + what + strconv.Itoa(b.seq)
}

func intsConst(name string, v []int) *node {
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return &node{name: name, op: opConst, shape: []int{len(v)}, val: f}
}

// plain returns v in its logical layout, transposing an NHWC value back to
// NCHW unless its spatial size is 1×1, where both layouts hold the same
// order.
func (b *onnxBuilder) plain(name string, v onnxValue) (*node, error) {
	if !v.nhwc {
		return v.n, nil
	}
	if v.shape[2] == 1 && v.shape[3] == 1 {
		return b.add(b.tmp(name, "nchw"), opReshape, attrs{}, v.n, intsConst(b.tmp(name, "shape"), v.shape))
	}
	return b.add(b.tmp(name, "nchw"), opTranspose, attrs{}, v.n, intsConst(b.tmp(name, "perm"), nhwcToNCHW))
}

// toNHWC returns a rank-4 value stored NHWC.
func (b *onnxBuilder) toNHWC(name string, v onnxValue) (*node, error) {
	if v.nhwc {
		return v.n, nil
	}
	if len(v.shape) != 4 {
		return nil, fmt.Errorf("input of shape %v: want rank 4 (NCHW)", v.shape)
	}
	return b.add(b.tmp(name, "nhwc"), opTranspose, attrs{}, v.n, intsConst(b.tmp(name, "perm"), nchwToNHWC))
}

// nhwcConst lays out a constant that broadcasts against an NCHW value for
// the NHWC one: its shape is aligned to rank 4, then permuted.
func (b *onnxBuilder) nhwcConst(name string, c onnxValue) (*node, error) {
	s := c.shape
	if len(s) > 4 {
		return nil, fmt.Errorf("constant of shape %v against a rank-4 tensor", s)
	}
	s4 := append(slices.Repeat([]int{1}, 4-len(s)), s...)
	op, err := newTransposeOp(s4, nchwToNHWC)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(c.n.val))
	op.run(c.n.val, out)
	return &node{name: b.tmp(name, "nhwc"), op: opConst, shape: op.outShape, val: out}, nil
}

func (n *onnxNode) attr(name string) *onnxAttr {
	for i := range n.attrs {
		if n.attrs[i].name == name {
			return &n.attrs[i]
		}
	}
	return nil
}

func (n *onnxNode) attrInt(name string, def int64) int64 {
	if a := n.attr(name); a != nil {
		return a.i
	}
	return def
}

func (n *onnxNode) attrFloat(name string, def float32) float32 {
	if a := n.attr(name); a != nil {
		return a.f
	}
	return def
}

func (n *onnxNode) attrInts(name string) ([]int, bool) {
	a := n.attr(name)
	if a == nil {
		return nil, false
	}
	out := make([]int, len(a.ints))
	for i, v := range a.ints {
		if v > math.MaxInt32 {
			v = math.MaxInt32
		} else if v < math.MinInt32 {
			v = math.MinInt32
		}
		out[i] = int(v)
	}
	return out, true
}

// in returns input i, or ok false when it is absent (past the end or an
// empty name: ONNX's way of skipping an optional input).
func (b *onnxBuilder) in(n *onnxNode, i int) (onnxValue, bool, error) {
	if i >= len(n.inputs) || n.inputs[i] == "" {
		return onnxValue{}, false, nil
	}
	v, ok := b.vals[n.inputs[i]]
	if !ok {
		return onnxValue{}, false, fmt.Errorf("input %s is not defined before this node", n.inputs[i])
	}
	return v, true, nil
}

// need returns input i, which must be present.
func (b *onnxBuilder) need(n *onnxNode, i int) (onnxValue, error) {
	v, ok, err := b.in(n, i)
	if err == nil && !ok {
		err = fmt.Errorf("input %d missing", i)
	}
	return v, err
}

func (b *onnxBuilder) needConst(n *onnxNode, i int) (onnxValue, error) {
	v, err := b.need(n, i)
	if err == nil && !v.isConst() {
		err = fmt.Errorf("input %s must be a constant", n.inputs[i])
	}
	return v, err
}

// set defines the node's first output. Optional outputs a node may also
// have (Dropout's mask, MaxPool's indices, BatchNormalization's running
// statistics) stay undefined: a node reading one fails to load.
func (b *onnxBuilder) set(n *onnxNode, v onnxValue) error {
	if len(n.outputs) == 0 {
		return fmt.Errorf("no outputs")
	}
	b.vals[n.outputs[0]] = v
	return nil
}

// name is the runtime name of the node's first output (unique in ONNX).
func (n *onnxNode) outName() string {
	if len(n.outputs) > 0 && n.outputs[0] != "" {
		return n.outputs[0]
	}
	return n.name
}

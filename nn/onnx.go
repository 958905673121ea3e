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
	om, err := parseONNX(raw)
	if err != nil {
		return nil, err
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
	for i := range g.nodes {
		n := &g.nodes[i]
		if n.domain != "" && n.domain != "ai.onnx" {
			return nil, nil, nil, fmt.Errorf("node %s (%s): operator domain %q is not supported", n.name, n.op, n.domain)
		}
		if err := b.node(n); err != nil {
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

func (b *onnxBuilder) set(n *onnxNode, v onnxValue) error {
	if len(n.outputs) != 1 {
		return fmt.Errorf("%d outputs, want 1", len(n.outputs))
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

func (b *onnxBuilder) node(n *onnxNode) error {
	name := n.outName()
	switch n.op {
	case "Constant":
		return b.constantNode(n)
	case "Identity", "Dropout":
		x, err := b.need(n, 0)
		if err != nil {
			return err
		}
		b.vals[n.outputs[0]] = x // Dropout's mask output is never read at inference
		return nil
	case "Conv":
		return b.conv(n, name)
	case "Relu", "Sigmoid", "Tanh", "Exp", "Abs", "Neg", "Sqrt", "Elu":
		x, err := b.need(n, 0)
		if err != nil {
			return err
		}
		if n.op == "Elu" && n.attrFloat("alpha", 1) != 1 {
			return fmt.Errorf("alpha %g: only 1 is supported", n.attrFloat("alpha", 1))
		}
		y, err := b.add(name, onnxUnary[n.op], attrs{}, x.n)
		if err != nil {
			return err
		}
		return b.set(n, onnxValue{n: y, shape: x.shape, nhwc: x.nhwc})
	case "Add", "Sub", "Mul", "Div", "Max", "Min", "PRelu":
		return b.binary(n, name)
	case "Clip":
		return b.clip(n, name)
	case "Reshape", "Flatten":
		return b.reshape(n, name)
	}
	return fmt.Errorf("unsupported op %s", n.op)
}

func (b *onnxBuilder) constantNode(n *onnxNode) error {
	for _, a := range n.attrs {
		switch a.name {
		case "value":
			if a.t == nil {
				return fmt.Errorf("value without a tensor")
			}
			return b.set(n, b.constant(n.outName(), a.t.dims, a.t.data))
		case "value_float":
			return b.set(n, b.constant(n.outName(), nil, []float32{a.f}))
		case "value_floats":
			return b.set(n, b.constant(n.outName(), []int{len(a.floats)}, a.floats))
		case "value_int":
			return b.set(n, b.constant(n.outName(), nil, []float32{int64ToFloat(a.i)}))
		case "value_ints":
			v := make([]float32, len(a.ints))
			for i, x := range a.ints {
				v[i] = int64ToFloat(x)
			}
			return b.set(n, b.constant(n.outName(), []int{len(v)}, v))
		}
	}
	return fmt.Errorf("no supported value attribute")
}

// conv lowers Conv: group 1 to a convolution, group = channels to a
// depthwise one, other groups to a convolution with a block-diagonal filter.
func (b *onnxBuilder) conv(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	w, err := b.needConst(n, 1)
	if err != nil {
		return err
	}
	xin, err := b.toNHWC(name, x)
	if err != nil {
		return err
	}
	if len(w.shape) != 4 {
		return fmt.Errorf("weights of shape %v: only 2-D convolutions are supported", w.shape)
	}
	cout, cg, kh, kw := w.shape[0], w.shape[1], w.shape[2], w.shape[3]
	c := x.shape[1]
	group := int(n.attrInt("group", 1))
	if group < 1 || c%group != 0 || cout%group != 0 || cg != c/group {
		return fmt.Errorf("group %d with %d input channels and weights %v", group, c, w.shape)
	}
	if ks, ok := n.attrInts("kernel_shape"); ok && !slices.Equal(ks, []int{kh, kw}) {
		return fmt.Errorf("kernel_shape %v for weights %v", ks, w.shape)
	}
	win, err := onnxWindow(n)
	if err != nil {
		return err
	}
	a := attrs{win: win}
	var filter onnxValue
	o := opConv2D
	src := w.n.val
	if group == c && group > 1 {
		// Depthwise: [C·M,1,KH,KW] → [KH,KW,C,M]; output channel c·M+m is
		// the same index on both sides.
		o = opDepthwiseConv2D
		f := make([]float32, len(src))
		for o := range cout {
			for k := range kh * kw {
				f[k*cout+o] = src[o*kh*kw+k]
			}
		}
		filter = b.constant(b.tmp(name, "filter"), []int{kh, kw, c, cout / c}, f)
	} else {
		// [Cout,Cin/g,KH,KW] → [KH,KW,Cin,Cout], zero outside each group's block.
		f := make([]float32, kh*kw*c*cout)
		og := cout / group
		for o := range cout {
			g := o / og
			for ci := range cg {
				for k := range kh * kw {
					f[(k*c+g*cg+ci)*cout+o] = src[((o*cg)+ci)*kh*kw+k]
				}
			}
		}
		filter = b.constant(b.tmp(name, "filter"), []int{kh, kw, c, cout}, f)
	}
	ins := []*node{xin, filter.n}
	if bias, ok, err := b.in(n, 2); err != nil {
		return err
	} else if ok {
		if !bias.isConst() || len(bias.n.val) != cout {
			return fmt.Errorf("bias must be a constant of %d values", cout)
		}
		a.fused.bias = true
		ins = append(ins, bias.n)
	}
	y, err := b.add(name, o, a, ins...)
	if err != nil {
		return err
	}
	s := y.shape
	return b.set(n, onnxValue{n: y, shape: []int{s[0], s[3], s[1], s[2]}, nhwc: true})
}

// onnxWindow reads a window op's strides, dilations and pads.
func onnxWindow(n *onnxNode) (Window, error) {
	st, ok := n.attrInts("strides")
	if !ok {
		st = []int{1, 1}
	}
	dl, ok := n.attrInts("dilations")
	if !ok {
		dl = []int{1, 1}
	}
	if len(st) != 2 || len(dl) != 2 {
		return Window{}, fmt.Errorf("strides %v, dilations %v: only 2-D windows are supported", st, dl)
	}
	w := Window{StrideH: st[0], StrideW: st[1], DilH: dl[0], DilW: dl[1]}
	switch ap := string(attrBytes(n, "auto_pad")); ap {
	case "", "NOTSET":
		p, ok := n.attrInts("pads")
		if !ok {
			p = []int{0, 0, 0, 0}
		}
		if len(p) != 4 {
			return w, fmt.Errorf("pads %v", p)
		}
		// ONNX: [top, left, bottom, right].
		w.Padding, w.Top, w.Left, w.Bottom, w.Right = PadExplicit, p[0], p[1], p[2], p[3]
	case "VALID":
		w.Padding = PadValid
	case "SAME_UPPER":
		w.Padding = PadSame
	default:
		return w, fmt.Errorf("auto_pad %s is not supported", ap)
	}
	if w.StrideH < 1 || w.StrideW < 1 || w.DilH < 1 || w.DilW < 1 {
		return w, fmt.Errorf("strides %v, dilations %v", st, dl)
	}
	return w, nil
}

func attrBytes(n *onnxNode, name string) []byte {
	if a := n.attr(name); a != nil {
		return a.s
	}
	return nil
}

var onnxUnary = map[string]op{"Relu": opRelu, "Sigmoid": opSigmoid, "Tanh": opTanh, "Exp": opExp, "Abs": opAbs, "Neg": opNeg, "Sqrt": opSqrt, "Elu": opElu}

var onnxBinary = map[string]op{"Add": opAdd, "Sub": opSub, "Mul": opMul, "Div": opDiv, "Max": opMax, "Min": opMin, "PRelu": opPrelu}

// binary lowers a broadcasting elementwise op. When an operand is stored
// NHWC, constants are laid out to broadcast the same way and other
// operands must be NHWC too.
func (b *onnxBuilder) binary(n *onnxNode, name string) error {
	if len(n.inputs) != 2 {
		return fmt.Errorf("%d inputs, want 2", len(n.inputs))
	}
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	y, err := b.need(n, 1)
	if err != nil {
		return err
	}
	return b.binaryOf(n, name, onnxBinary[n.op], x, y)
}

func (b *onnxBuilder) binaryOf(n *onnxNode, name string, o op, x, y onnxValue) error {
	shape, err := broadcastShape(x.shape, y.shape)
	if err != nil {
		return err
	}
	nhwc := (x.nhwc || y.nhwc) && len(shape) == 4
	args := []onnxValue{x, y}
	for _, a := range args {
		if !a.nhwc && !a.isConst() && len(a.shape) != 4 {
			// A lower-rank runtime operand broadcasts along the logical
			// axes: compute in the logical layout.
			nhwc = false
		}
	}
	ins := make([]*node, 2)
	for i, a := range args {
		switch {
		case nhwc == a.nhwc:
			ins[i] = a.n
		case !nhwc:
			ins[i], err = b.plain(name, a)
		case a.isConst():
			ins[i], err = b.nhwcConst(name, a)
		default:
			ins[i], err = b.toNHWC(name, a)
		}
		if err != nil {
			return err
		}
	}
	out, err := b.add(name, o, attrs{}, ins...)
	if err != nil {
		return err
	}
	return b.set(n, onnxValue{n: out, shape: shape, nhwc: nhwc})
}

// clip lowers Clip to the activation it is (ReLU, ReLU6) or to a max and a
// min with its bounds.
func (b *onnxBuilder) clip(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
	if b.opset < 11 {
		lo, hi = n.attrFloat("min", lo), n.attrFloat("max", hi)
	} else {
		for i, p := range []*float32{&lo, &hi} {
			v, ok, err := b.in(n, i+1)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if !v.isConst() || len(v.n.val) != 1 {
				return fmt.Errorf("bound %s must be a scalar constant", n.inputs[i+1])
			}
			*p = v.n.val[0]
		}
	}
	out := onnxValue{n: x.n, shape: x.shape, nhwc: x.nhwc}
	switch {
	case lo == 0 && hi == 6:
		out.n, err = b.add(name, opRelu6, attrs{}, x.n)
	case lo == 0 && math.IsInf(float64(hi), 1):
		out.n, err = b.add(name, opRelu, attrs{}, x.n)
	default:
		if !math.IsInf(float64(lo), -1) {
			if out.n, err = b.add(b.tmp(name, "max"), opMax, attrs{}, out.n, &node{name: b.tmp(name, "lo"), op: opConst, val: []float32{lo}}); err != nil {
				return err
			}
		}
		if !math.IsInf(float64(hi), 1) {
			out.n, err = b.add(name, opMin, attrs{}, out.n, &node{name: b.tmp(name, "hi"), op: opConst, val: []float32{hi}})
		}
	}
	if err != nil {
		return err
	}
	return b.set(n, out)
}

// reshape lowers Reshape and Flatten, which read the logical (NCHW) order.
func (b *onnxBuilder) reshape(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	var target []int
	if n.op == "Flatten" {
		axis := int(n.attrInt("axis", 1))
		if axis < 0 {
			axis += len(x.shape)
		}
		if axis < 0 || axis > len(x.shape) {
			return fmt.Errorf("axis %d for rank %d", axis, len(x.shape))
		}
		target = []int{numel(x.shape[:axis]), numel(x.shape[axis:])}
	} else {
		s, err := b.needConst(n, 1)
		if err != nil {
			return err
		}
		allowZero := n.attrInt("allowzero", 0) == 1
		target = make([]int, len(s.n.val))
		for i, v := range s.n.val {
			target[i] = int(v)
			if v == 0 && !allowZero {
				if i >= len(x.shape) {
					return fmt.Errorf("shape %v copies dimension %d of %v", s.n.val, i, x.shape)
				}
				target[i] = x.shape[i]
			}
		}
	}
	src, err := b.plain(name, x)
	if err != nil {
		return err
	}
	y, err := b.add(name, opReshape, attrs{}, src, intsConst(b.tmp(name, "shape"), target))
	if err != nil {
		return err
	}
	return b.set(n, onnxValue{n: y, shape: y.shape})
}

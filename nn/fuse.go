package nn

import (
	"slices"

	"github.com/portrait-id/portrait/nn/kernel"
)

// fuse rewrites the checked graph so fewer, larger steps run: PReLUs written
// as elementwise subgraphs become one Prelu, zero Pads fold into the next
// convolution's padding, per-channel scale, bias and activations after a
// convolution or matrix product move into its kernel epilogue, a residual
// add (and its activation) joins the convolution before it, a ReLU after a
// max pool moves before it, and a depthwise convolution feeding a small
// pointwise one runs inside it. It returns the new order of the live nodes.
func fuse(order []*node, outputs []*node) ([]*node, error) {
	for _, n := range order {
		matchPrelu(n, outputs)
	}
	order, err := topoOrder(outputs)
	if err != nil {
		return nil, err
	}
	relink(order)
	for _, n := range order {
		if n.conv != nil {
			foldPad(n)
		}
	}
	order, err = topoOrder(outputs)
	if err != nil {
		return nil, err
	}
	relink(order)
	for _, n := range order {
		if n.conv != nil {
			for absorb(n, outputs) {
			}
		}
	}
	for _, n := range order {
		if n.conv != nil {
			reluBeforePool(n, outputs)
			fuseDepthwise(n, outputs)
		}
	}
	return topoOrder(outputs)
}

// dwFuseMaxWeights bounds the pointwise weights (float32s) of a fused
// depthwise+pointwise pair: they are re-read for every band, so they must
// stay in cache.
const dwFuseMaxWeights = 1 << 15

// fuseDepthwise runs a depthwise convolution read only by a pointwise (1×1,
// stride 1) convolution inside that convolution's step, band by band, so
// the depthwise output stays in cache instead of going through memory.
func fuseDepthwise(n *node, outputs []*node) {
	s := n.conv
	w := s.win
	if s.depthwise || s.matmul || s.pre != nil || w.KH != 1 || w.KW != 1 || max(w.StrideH, 1) != 1 || max(w.StrideW, 1) != 1 ||
		(w.Padding == PadExplicit && w.Top+w.Bottom+w.Left+w.Right != 0) {
		return
	}
	if len(s.filter) > dwFuseMaxWeights {
		return // big weights: banding would stream them from memory per band
	}
	d := n.in[0]
	if d.conv == nil || !d.conv.depthwise || d.conv.mult != 1 || d.conv.res != nil || len(d.users) != 1 || slices.Contains(outputs, d) {
		return
	}
	s.pre = d.conv
	n.in[0] = d.in[0]
}

// reluBeforePool moves a ReLU after a max pool into the convolution before
// the pool: ReLU is monotonic, so it commutes with max, and the kernel
// applies it for free.
func reluBeforePool(n *node, outputs []*node) {
	if len(n.users) != 1 || n.conv.act != kernel.ActNone || n.conv.res != nil || slices.Contains(outputs, n) {
		return
	}
	p := n.users[0]
	if p.op != opMaxPool || len(p.users) != 1 || slices.Contains(outputs, p) {
		return
	}
	r := p.users[0]
	if r.op != opRelu && r.op != opRelu6 {
		return
	}
	n.conv.act = kernel.ActRelu
	if r.op == opRelu6 {
		n.conv.act = kernel.ActRelu6
	}
	replace(r, p, outputs)
}

func isZero(n *node) bool { v, ok := scalarConst(n); return ok && v == 0 }

// other returns the operand of a binary node that is not x.
func other(n, x *node) *node {
	if n.in[0] == x {
		return n.in[1]
	}
	return n.in[0]
}

// matchPrelu turns max(x,0) + g·min(x,0) (mobileface) and
// relu(x) + (x-|x|)·m (mobilefacenet, where g = 2m) into Prelu(x, g).
func matchPrelu(n *node, outputs []*node) {
	if n.op != opAdd || len(n.in) != 2 {
		return
	}
	for _, pos := range []*node{n.in[0], n.in[1]} {
		neg := other(n, pos)
		if neg.op != opMul || len(neg.in) != 2 {
			continue
		}
		if n.rewriteSelfPrelu(pos, neg, outputs) {
			return
		}
		var x *node
		switch {
		case pos.op == opRelu:
			x = pos.in[0]
		case pos.op == opMax && isZero(pos.in[0]):
			x = pos.in[1]
		case pos.op == opMax && isZero(pos.in[1]):
			x = pos.in[0]
		default:
			continue
		}
		for _, part := range neg.in {
			g := other(neg, part)
			if !g.isConst() {
				continue
			}
			var alpha []float32
			switch {
			case part.op == opMin && other(part, x) != x && isZero(other(part, x)) && slices.Contains(part.in, x):
				alpha = g.val
			case part.op == opSub && part.in[0] == x && part.in[1].op == opAbs && part.in[1].in[0] == x:
				alpha = make([]float32, len(g.val))
				for i, v := range g.val {
					alpha[i] = 2 * v
				}
			default:
				continue
			}
			// The alpha must broadcast like the original product did.
			if _, err := broadcastShape(x.shape, g.shape); err != nil || numel(g.shape) > numel(x.shape) {
				continue
			}
			a := &node{name: n.name + "/alpha", op: opConst, shape: g.shape, val: alpha}
			n.op, n.src, n.in = opPrelu, "", []*node{x, a}
			op, _ := newBinaryOp(binPrelu, x.shape, a.shape)
			n.exec = func(in []int, out int) step { return &binaryStep{op, in[0], in[1], out} }
			return
		}
	}
}

// rewriteSelfPrelu turns x + (x-|x|)·m, which is x for x ≥ 0 and
// (1+2m)·x below, into Prelu(x, 1+2m), or into x itself when x comes out of
// a ReLU (mobilefacenet applies this after its ReLU convolutions too).
func (n *node) rewriteSelfPrelu(x, mul *node, outputs []*node) bool {
	for _, sub := range mul.in {
		m := other(mul, sub)
		if !m.isConst() || sub.op != opSub || len(sub.in) != 2 || sub.in[0] != x || sub.in[1].op != opAbs || sub.in[1].in[0] != x {
			continue
		}
		if _, err := broadcastShape(x.shape, m.shape); err != nil || numel(m.shape) > numel(x.shape) {
			return false
		}
		if x.conv != nil && (x.conv.act == kernel.ActRelu || x.conv.act == kernel.ActRelu6) || x.op == opRelu || x.op == opRelu6 {
			replace(n, x, outputs)
			return true
		}
		alpha := make([]float32, len(m.val))
		for i, v := range m.val {
			alpha[i] = 1 + 2*v
		}
		a := &node{name: n.name + "/alpha", op: opConst, shape: m.shape, val: alpha}
		n.op, n.src, n.in = opPrelu, "", []*node{x, a}
		op, _ := newBinaryOp(binPrelu, x.shape, a.shape)
		n.exec = func(in []int, out int) step { return &binaryStep{op, in[0], in[1], out} }
		return true
	}
	return false
}

// foldPad removes a zero Pad of only the spatial dimensions in front of a
// convolution by adding it to the convolution's explicit padding.
func foldPad(n *node) {
	p := n.in[0]
	if n.conv.matmul || p.op != opPad || len(p.users) != 1 {
		return
	}
	if len(p.in) > 2 && !isZero(p.in[2]) {
		return
	}
	pads, err := constInts(p.in[1])
	if err != nil || len(pads) != 8 || pads[0] != 0 || pads[1] != 0 || pads[6] != 0 || pads[7] != 0 {
		return
	}
	w := n.conv.win
	switch w.Padding {
	case PadSame:
		return // its padding depends on the padded size; keep the Pad
	case PadValid:
		w.Top, w.Bottom, w.Left, w.Right = 0, 0, 0, 0
	}
	w.Padding = PadExplicit
	w.Top += pads[2]
	w.Bottom += pads[3]
	w.Left += pads[4]
	w.Right += pads[5]
	n.conv.win = w
	n.in[0] = p.in[0]
}

// absorb moves the single consumer of a convolution into its epilogue when
// its op knows how (opInfo.absorb: a per-channel scale or bias, an
// activation the kernels apply, a residual add; after a residual,
// opInfo.absorbPost). It reports whether it did.
func absorb(n *node, outputs []*node) bool {
	if len(n.users) != 1 || slices.Contains(outputs, n) {
		return false
	}
	u := n.users[0]
	var operand *node
	if len(u.in) == 2 {
		operand = other(u, n)
		if slices.Equal(u.in, []*node{n, n}) {
			return false
		}
	}
	f := opTable[u.op].absorb
	if n.conv.res != nil {
		f = opTable[u.op].absorbPost
	}
	if f == nil || !f(n, u, operand, outputs) {
		return false
	}
	replace(u, n, outputs)
	if operand != nil {
		// n reads the operand now: a convolution computing it must not see
		// u as its consumer and absorb n back as a residual.
		for i, r := range operand.users {
			if r == u {
				operand.users[i] = n
			}
		}
	}
	return true
}

// absorbAdd takes a residual connection, added tile by tile while the tile
// is in cache (a shortcut zero-padded on channels only is added unpadded, a
// max-pooled one pooled while it is added), or a per-channel bias.
func absorbAdd(n, u, operand *node, outputs []*node) bool {
	s := n.conv
	if s.act != kernel.ActNone {
		return false
	}
	if !s.depthwise && !operand.isConst() && sameShape(u, n) && sameShape(operand, n) {
		s.res, s.resC = operand, s.cout
		if x, rc, ok := channelPad(operand, u); ok {
			s.res, s.resC = x, rc
		}
		if p := s.res; p.pool != nil && p.pool.fast2x2() && len(p.users) == 1 && !slices.Contains(outputs, p) {
			s.res, s.resPool = p.in[0], p.pool
		}
		n.in = append(n.in, s.res)
		return true
	}
	b, ok := epilogueOperand(n, u, operand, false)
	if ok {
		s.addBias(b, 1)
	}
	return ok
}

// epilogueOperand returns the per-channel constant u applies to n's
// output, when n's epilogue has no activation yet to come before it; first
// asks for n to be u's first operand (Sub, Prelu).
func epilogueOperand(n, u, operand *node, first bool) ([]float32, bool) {
	if n.conv.act != kernel.ActNone || first && u.in[0] != n || !sameShape(u, n) {
		return nil, false
	}
	return channelConst(operand, n.conv.cout)
}

func absorbSub(n, u, operand *node, outputs []*node) bool {
	b, ok := epilogueOperand(n, u, operand, true)
	if ok {
		n.conv.addBias(b, -1)
	}
	return ok
}

func absorbMul(n, u, operand *node, outputs []*node) bool {
	m, ok := epilogueOperand(n, u, operand, false)
	if ok {
		n.conv.scale(m)
	}
	return ok
}

func absorbAct(a kernel.Activation) func(n, u, operand *node, outputs []*node) bool {
	return func(n, u, operand *node, outputs []*node) bool {
		if n.conv.act != kernel.ActNone {
			return false
		}
		n.conv.act = a
		return true
	}
}

func absorbPrelu(n, u, operand *node, outputs []*node) bool {
	a, ok := epilogueOperand(n, u, operand, true)
	if ok {
		n.conv.act, n.conv.alpha = kernel.ActPrelu, a
	}
	return ok
}

// absorbMin turns relu then min(·,6) into relu6.
func absorbMin(n, u, operand *node, outputs []*node) bool {
	if v, ok := scalarConst(operand); !ok || v != 6 || n.conv.act != kernel.ActRelu {
		return false
	}
	n.conv.act = kernel.ActRelu6
	return true
}

// absorbMax drops max(·,0) after a ReLU: already non-negative.
func absorbMax(n, u, operand *node, outputs []*node) bool {
	return (n.conv.act == kernel.ActRelu || n.conv.act == kernel.ActRelu6) && isZero(operand)
}

// channelPad reports whether p zero-pads only the end of the last axis and
// is read by u alone; it returns the unpadded input and its channels.
func channelPad(p, u *node) (*node, int, bool) {
	if p.op != opPad || len(p.users) != 1 || p.users[0] != u {
		return nil, 0, false
	}
	if len(p.in) > 2 && !isZero(p.in[2]) {
		return nil, 0, false
	}
	pads, err := constInts(p.in[1])
	x := p.in[0]
	if err != nil || len(pads) != 2*len(x.shape) || len(x.shape) == 0 {
		return nil, 0, false
	}
	for _, v := range pads[:len(pads)-1] {
		if v != 0 {
			return nil, 0, false
		}
	}
	return x, x.shape[len(x.shape)-1], true
}

// absorbPostAct and absorbPostPrelu take the activation after a residual
// add.
func absorbPostAct(a kernel.Activation) func(n, u, operand *node, outputs []*node) bool {
	return func(n, u, operand *node, outputs []*node) bool {
		if n.conv.post != kernel.ActNone {
			return false
		}
		n.conv.post = a
		return true
	}
}

func absorbPostPrelu(n, u, operand *node, outputs []*node) bool {
	s := n.conv
	if s.post != kernel.ActNone {
		return false
	}
	a, ok := channelConst(operand, s.cout)
	if !ok || u.in[0] != n || !sameShape(u, n) {
		return false
	}
	s.post, s.postAlpha = kernel.ActPrelu, a
	return true
}

func sameShape(a, b *node) bool { return slices.Equal(a.shape, b.shape) }

// replace makes every reader of old read n instead.
func replace(old, n *node, outputs []*node) {
	for _, r := range old.users {
		for i, in := range r.in {
			if in == old {
				r.in[i] = n
			}
		}
	}
	n.users = old.users
	old.users = nil
	for i, o := range outputs {
		if o == old {
			outputs[i] = n
		}
	}
}

func (s *convSpec) own() {
	if !s.owned {
		s.filter = slices.Clone(s.filter)
		if s.bias != nil {
			s.bias = slices.Clone(s.bias)
		}
		s.owned = true
	}
}

// scale multiplies output channel j by m[j]: its filter column and bias.
func (s *convSpec) scale(m []float32) {
	s.own()
	for i := range s.filter {
		s.filter[i] *= m[i%s.cout]
	}
	for j := range s.bias {
		s.bias[j] *= m[j]
	}
}

func (s *convSpec) addBias(b []float32, sign float32) {
	s.own()
	if s.bias == nil {
		s.bias = make([]float32, s.cout)
	}
	for j := range s.bias {
		s.bias[j] += sign * b[j]
	}
}

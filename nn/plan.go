package nn

import (
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/portrait-id/portrait/nn/kernel"
)

// step is one planned operation; it reads and writes the session's buffers
// by value id.
type step interface{ run(b [][]float32) }

type convStep struct {
	op                    *convOp
	in, out, scratch, res int
}

func (s *convStep) run(b [][]float32) { s.op.run(b[s.in], b[s.out], b[s.scratch], b[s.res]) }

type dwConvStep struct {
	dw                    *depthwiseOp
	op                    *convOp
	in, out, scratch, res int
}

func (s *dwConvStep) run(b [][]float32) {
	s.op.runBands(s.dw, b[s.in], b[s.out], b[s.scratch], b[s.res])
}

type depthwiseStep struct {
	op               *depthwiseOp
	in, out, scratch int
}

func (s *depthwiseStep) run(b [][]float32) { s.op.run(b[s.in], b[s.out], b[s.scratch]) }

type poolStep struct {
	op      *poolOp
	in, out int
}

func (s *poolStep) run(b [][]float32) { s.op.run(b[s.in], b[s.out]) }

type padStep struct {
	op      *padOp
	in, out int
}

func (s *padStep) run(b [][]float32) { s.op.run(b[s.in], b[s.out]) }

type binaryStep struct {
	op        *binaryOp
	a, b, out int
}

func (s *binaryStep) run(b [][]float32) { s.op.run(b[s.a], b[s.b], b[s.out]) }

type unaryStep struct {
	k       unaryKind
	in, out int
}

func (s *unaryStep) run(b [][]float32) { s.k.run(b[s.in], b[s.out]) }

type reduceStep struct {
	op      *reduceOp
	in, out int
}

func (s *reduceStep) run(b [][]float32) { s.op.run(b[s.in], b[s.out]) }

type concatStep struct {
	op  *concatOp
	ins []int
	out int
}

func (s *concatStep) run(b [][]float32) { s.op.run(b, s.ins, b[s.out]) }

type viewStep struct {
	op      *viewOp
	in, out int
}

func (s *viewStep) run(b [][]float32) { s.op.run(b[s.in], b[s.out]) }

type softmaxStep struct {
	n, in, out int
}

func (s *softmaxStep) run(b [][]float32) { softmax(b[s.in], b[s.out], s.n) }

// IO names a model input or output (its graph node) and its static shape.
type IO struct {
	Name  string
	Shape []int
}

// Model is a loaded graph: immutable after LoadGraphModel, so one Model
// serves every goroutine. All per-inference memory lives in a Session.
type Model struct {
	path    string
	inputs  []IO
	outputs []IO
	steps   []step
	flops   int64

	// Buffer plan: value id → constant data, or a window of the arena.
	consts   map[int][]float32
	offset   []int // -1 for constants
	size     []int
	arenaLen int
	inIDs    []int
	outIDs   []int

	pool sync.Pool
}

// Inputs lists the graph inputs with their shapes (batch fixed to 1); the
// slice is shared, do not modify it.
func (m *Model) Inputs() []IO { return m.inputs }

// Outputs lists the graph outputs with their shapes; the slice is shared.
func (m *Model) Outputs() []IO { return m.outputs }

// InputIndex is the position of the named input for Session.Input, or -1.
func (m *Model) InputIndex(name string) int {
	return slices.IndexFunc(m.inputs, func(io IO) bool { return io.Name == name })
}

// OutputIndex is the position of the named output for Session.Output, or -1.
func (m *Model) OutputIndex(name string) int {
	return slices.IndexFunc(m.outputs, func(io IO) bool { return io.Name == name })
}

// FLOPs is the work of one inference: two per multiply-add of the
// convolutions and matrix products.
func (m *Model) FLOPs() int64 { return m.flops }

// ArenaBytes is the memory one Session holds for activations and scratch.
func (m *Model) ArenaBytes() int { return 4 * m.arenaLen }

func (m *Model) String() string { return m.path }

// Session runs one inference at a time: it owns the arena every
// intermediate tensor of the plan lives in. Fill the inputs, Run, read the
// outputs; the outputs stay valid until the next Run or Release.
type Session struct {
	m    *Model
	bufs [][]float32
}

// NewSession allocates a session for callers that keep one per goroutine.
func (m *Model) NewSession() *Session {
	arena := make([]float32, m.arenaLen)
	s := &Session{m: m, bufs: make([][]float32, len(m.offset))}
	for id, off := range m.offset {
		if off < 0 {
			s.bufs[id] = m.consts[id]
		} else {
			s.bufs[id] = arena[off : off+m.size[id] : off+m.size[id]]
		}
	}
	return s
}

// Acquire takes a session from the model's pool; return it with Release.
//
// The pool is a sync.Pool rather than a fixed set behind a channel: callers
// (the face pipeline, the HTTP handlers) already bound their concurrency, so
// a second bound here would only add a place to block; the pool grows to
// the sessions actually running at once and lets the GC reclaim the arenas
// (megabytes each) of an idle service. Under steady load the pool keeps its
// sessions warm and Acquire allocates nothing; a session the GC dropped is
// rebuilt once. Callers that want no pool at all keep a NewSession per
// goroutine.
func (m *Model) Acquire() *Session {
	if s, ok := m.pool.Get().(*Session); ok {
		return s
	}
	return m.NewSession()
}

// Release returns the session to its model's pool; the caller must not use
// it, or slices it returned, afterwards.
func (s *Session) Release() { s.m.pool.Put(s) }

// Input is the buffer of input i (NHWC, row-major) to fill before Run.
func (s *Session) Input(i int) []float32 { return s.bufs[s.m.inIDs[i]] }

// Output is the buffer of output i after Run.
func (s *Session) Output(i int) []float32 { return s.bufs[s.m.outIDs[i]] }

// Run executes the plan on the current inputs. It is safe to call again;
// the inputs are not modified.
func (s *Session) Run() {
	for _, st := range s.m.steps {
		st.run(s.bufs)
	}
}

// LoadGraphModel loads a TensorFlow.js graph model (model.json, its weight
// shards beside it) and plans its execution.
func LoadGraphModel(path string) (*Model, error) {
	m, err := loadGraphModel(path)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return m, nil
}

func loadGraphModel(path string) (*Model, error) {
	_, inputs, outputs, err := parseGraph(path)
	if err != nil {
		return nil, err
	}
	outNames := make([]string, len(outputs))
	for i, o := range outputs {
		outNames[i] = o.name
	}
	order, err := topoOrder(outputs)
	if err != nil {
		return nil, err
	}
	if err := infer(order); err != nil {
		return nil, err
	}
	return buildModel(path, inputs, outputs, outNames)
}

// buildModel fuses and plans the inferred graph between inputs and outputs
// (named outNames): the part shared by every front end.
func buildModel(path string, inputs, outputs []*node, outNames []string) (*Model, error) {
	order, err := topoOrder(outputs)
	if err != nil {
		return nil, err
	}
	relink(order)
	for _, in := range inputs {
		if in.shape == nil {
			// An input the outputs do not read was never inferred.
			if err := inferNode(in); err != nil {
				return nil, fmt.Errorf("input %s: %w", in.name, err)
			}
		}
	}
	m := &Model{path: path}
	for _, in := range inputs {
		m.inputs = append(m.inputs, IO{Name: in.name, Shape: in.shape})
	}
	for i, o := range outputs {
		m.outputs = append(m.outputs, IO{Name: outNames[i], Shape: o.shape})
	}
	order, err = fuse(order, outputs)
	if err != nil {
		return nil, err
	}
	if err := m.plan(order, inputs, outputs); err != nil {
		return nil, err
	}
	return m, nil
}

// interval is the life of an arena buffer in half-steps: step i reads its
// inputs at 2i (or 2i+1 when it cannot run in place) and writes at 2i+1.
type interval struct{ from, to int }

// plan lowers the live nodes to steps and places every buffer in one arena:
// buffers whose lives do not overlap share memory, so the arena is far
// smaller than the sum of the activations.
func (m *Model) plan(order []*node, inputs, outputs []*node) error {
	ids := map[*node]int{}
	root := map[*node]*node{} // alias ops resolve to the node owning the buffer
	var life []interval
	newID := func(size int, iv interval) int {
		m.offset = append(m.offset, 0)
		m.size = append(m.size, size)
		life = append(life, iv)
		return len(m.size) - 1
	}
	const forever = 1 << 30
	m.consts = map[int][]float32{}
	idOf := func(n *node) int {
		for root[n] != nil {
			n = root[n]
		}
		if id, ok := ids[n]; ok {
			return id
		}
		id := newID(len(n.val), interval{})
		ids[n] = id
		m.consts[id] = n.val
		m.offset[id] = -1
		return id
	}
	for _, in := range inputs {
		ids[in] = newID(numel(in.shape), interval{-1, forever})
	}
	nstep := 0
	for _, n := range order {
		switch {
		case n.isConst() || n.op == opInput:
			continue
		case opTable[n.op].alias:
			root[n] = n.in[0]
			continue
		}
		var data []*node
		if n.conv != nil {
			data = n.in[:1]
			if n.conv.res != nil {
				data = []*node{n.in[0], n.conv.res}
			}
		} else {
			data = n.in
		}
		var inIDs []int
		for _, d := range data {
			id := idOf(d)
			inIDs = append(inIDs, id)
			if m.offset[id] < 0 {
				continue
			}
			at := 2*nstep + 1
			if n.inplace && m.size[id] == numel(n.shape) {
				at = 2 * nstep
			}
			life[id].to = max(life[id].to, at)
		}
		out := newID(numel(n.shape), interval{2*nstep + 1, 2*nstep + 1})
		ids[n] = out
		st, err := m.lower(n, inIDs, out, newID, nstep)
		if err != nil {
			return fmt.Errorf("node %s (%s): %w", n.name, n.opName(), err)
		}
		m.steps = append(m.steps, st)
		nstep++
	}
	for _, in := range inputs {
		m.inIDs = append(m.inIDs, ids[in])
	}
	for _, o := range outputs {
		id := idOf(o)
		if m.offset[id] < 0 {
			return fmt.Errorf("output %s is constant", o.name)
		}
		life[id].to = forever
		m.outIDs = append(m.outIDs, id)
	}
	m.place(life)
	if m.arenaLen > maxElems {
		return fmt.Errorf("activations need %d MiB", 4*m.arenaLen>>20)
	}
	return nil
}

// lower builds the step of a node; convolutions get their packed weights
// and an arena scratch buffer here.
func (m *Model) lower(n *node, in []int, out int, newID func(int, interval) int, nstep int) (step, error) {
	if n.conv == nil {
		if n.exec == nil {
			return nil, fmt.Errorf("no implementation")
		}
		return n.exec(in, out), nil
	}
	s := n.conv
	var g geometry
	var err error
	scratchID := func(size int) int {
		return newID(size, interval{2*nstep + 1, 2*nstep + 1})
	}
	var dw *depthwiseOp
	if s.pre != nil {
		g0, err := resolve4(s.pre.win, n.in[0].shape)
		if err != nil {
			return nil, err
		}
		dw = newDepthwiseOp(g0, s.pre.filter, 1, kernel.Epilogue{Bias: s.pre.bias, Act: s.pre.act, Alpha: s.pre.alpha, Leak: s.pre.leak})
		m.flops += dw.flops()
		g, err = s.win.resolve(g0.OH, g0.OW, g0.C)
	} else if s.matmul {
		x := n.in[0].shape
		g, err = s.win.resolve(x[0], 1, x[1])
	} else {
		g, err = resolve4(s.win, n.in[0].shape)
	}
	if err != nil {
		return nil, err
	}
	ep := kernel.Epilogue{Bias: s.bias, Act: s.act, Alpha: s.alpha, Leak: s.leak}
	if s.depthwise {
		op := newDepthwiseOp(g, s.filter, s.mult, ep)
		m.flops += op.flops()
		sc := scratchID(op.scratchLen())
		return &depthwiseStep{op, in[0], out, sc}, nil
	}
	op := newConvOp(g, s.filter, s.cout, ep)
	m.flops += op.flops()
	if s.res != nil {
		op.setResidual(s.resC, s.resPool, s.post, s.postAlpha)
	}
	if dw != nil {
		op.setBand(dw)
		sc := scratchID(op.bandScratchLen())
		st := &dwConvStep{dw: dw, op: op, in: in[0], out: out, scratch: sc, res: sc}
		if s.res != nil {
			st.res = in[1]
		}
		return st, nil
	}
	sc := scratchID(op.scratchLen())
	st := &convStep{op: op, in: in[0], out: out, scratch: sc, res: sc}
	if s.res != nil {
		st.res = in[1]
	}
	return st, nil
}

// place assigns arena offsets, largest buffers first, each at the lowest
// offset free of every placed buffer whose life overlaps its own.
func (m *Model) place(life []interval) {
	const align = 16 // floats: 64-byte lines for the SIMD kernels
	var ids []int
	for id, off := range m.offset {
		if off >= 0 {
			ids = append(ids, id)
		}
	}
	sort.SliceStable(ids, func(a, b int) bool { return m.size[ids[a]] > m.size[ids[b]] })
	type span struct{ lo, hi int }
	var placed []int
	for _, id := range ids {
		need := (m.size[id] + align - 1) / align * align
		var busy []span
		for _, p := range placed {
			if life[p].from <= life[id].to && life[id].from <= life[p].to {
				busy = append(busy, span{m.offset[p], m.offset[p] + (m.size[p]+align-1)/align*align})
			}
		}
		slices.SortFunc(busy, func(a, b span) int { return a.lo - b.lo })
		off := 0
		for _, b := range busy {
			if off+need <= b.lo {
				break
			}
			off = max(off, b.hi)
		}
		m.offset[id] = off
		m.arenaLen = max(m.arenaLen, off+need)
		placed = append(placed, id)
	}
}

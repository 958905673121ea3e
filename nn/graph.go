package nn

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/portrait-id/portrait/nn/kernel"
)

// graphJSON is the part of a TensorFlow.js graph model.json the runtime reads.
type graphJSON struct {
	Format        string `json:"format"`
	ModelTopology struct {
		Node []nodeJSON `json:"node"`
	} `json:"modelTopology"`
	WeightsManifest []manifestGroup `json:"weightsManifest"`
	Signature       *struct {
		Inputs  map[string]sigTensor `json:"inputs"`
		Outputs map[string]sigTensor `json:"outputs"`
	} `json:"signature"`
}

type sigTensor struct {
	Name        string `json:"name"`
	TensorShape *struct {
		Dim []struct {
			Size string `json:"size"`
		} `json:"dim"`
	} `json:"tensorShape"`
}

type nodeJSON struct {
	Name  string              `json:"name"`
	Op    string              `json:"op"`
	Input []string            `json:"input"`
	Attr  map[string]attrJSON `json:"attr"`
}

// attrJSON is a TensorFlow AttrValue in its proto3 JSON form: strings are
// base64 (decoded by encoding/json into []byte), int64s are strings.
type attrJSON struct {
	S    []byte  `json:"s"`
	I    string  `json:"i"`
	F    float64 `json:"f"`
	B    bool    `json:"b"`
	List *struct {
		I []string  `json:"i"`
		S [][]byte  `json:"s"`
		F []float64 `json:"f"`
	} `json:"list"`
	Shape *shapeJSON `json:"shape"`
}

type shapeJSON struct {
	Dim []struct {
		Size string `json:"size"`
	} `json:"dim"`
}

// node is one operation of the graph while it is checked, fused and planned.
type node struct {
	name  string
	op    string
	in    []*node
	attr  map[string]attrJSON
	users []*node

	shape   []int
	val     []float32 // the value of a constant (Const or folded)
	isOut   bool
	conv    *convSpec // Conv2D, depthwise and MatMul, whose epilogue absorbs later ops
	pool    *poolOp   // MaxPool and AvgPool, which a residual add may absorb
	exec    func(in []int, out int) step
	inplace bool // output element i depends only on input element i of equal-size inputs
}

func (n *node) isConst() bool { return n.val != nil }

// convSpec is a convolution or matrix product and the elementwise ops fused
// after it.
type convSpec struct {
	win       Window
	depthwise bool
	matmul    bool // A[M,K]·B: run as a 1×1 convolution over M pixels
	mult      int
	cout      int
	filter    []float32 // [KH·KW·Cin, Cout]; depthwise [KH·KW·C·M]
	owned     bool      // filter is a private copy that fusion may scale
	bias      []float32
	act       kernel.Activation
	alpha     []float32
	leak      float32
	// res is added after the epilogue, then post applied (with postAlpha).
	// pre is a depthwise convolution run band by band before this 1×1 one.
	pre       *convSpec
	res       *node
	resC      int     // channels of res: fewer than cout when it was zero-padded
	resPool   *poolOp // res is the input of this 2×2 max pool, pooled on the fly
	post      kernel.Activation
	postAlpha []float32
}

func (n *node) attrInts(key string) []int {
	a, ok := n.attr[key]
	if !ok || a.List == nil {
		return nil
	}
	out := make([]int, len(a.List.I))
	for i, s := range a.List.I {
		out[i], _ = strconv.Atoi(s)
	}
	return out
}

func (n *node) attrString(key string) string { return string(n.attr[key].S) }

func (n *node) attrStrings(key string) []string {
	a, ok := n.attr[key]
	if !ok || a.List == nil {
		return nil
	}
	var out []string
	for _, s := range a.List.S {
		out = append(out, string(s))
	}
	return out
}

// parseGraph reads model.json and its weights into nodes, and finds the
// inputs and outputs.
func parseGraph(path string) (nodes []*node, inputs, outputs []*node, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	var g graphJSON
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, nil, nil, err
	}
	if len(g.ModelTopology.Node) == 0 {
		return nil, nil, nil, fmt.Errorf("no modelTopology.node: not a TensorFlow.js graph model")
	}
	weights, err := loadWeights(filepath.Dir(path), g.WeightsManifest)
	if err != nil {
		return nil, nil, nil, err
	}
	byName := map[string]*node{}
	for _, nj := range g.ModelTopology.Node {
		n := &node{name: nj.Name, op: nj.Op, attr: nj.Attr}
		if _, dup := byName[n.name]; dup {
			return nil, nil, nil, fmt.Errorf("node %s defined twice", n.name)
		}
		byName[n.name] = n
		nodes = append(nodes, n)
		if n.op == "Const" {
			w, ok := weights[n.name]
			if !ok {
				return nil, nil, nil, fmt.Errorf("constant %s has no weight", n.name)
			}
			n.shape, n.val = w.Shape, w.Data
		}
	}
	for i, nj := range g.ModelTopology.Node {
		n := nodes[i]
		for _, in := range nj.Input {
			if strings.HasPrefix(in, "^") {
				continue // control dependency: no data flows
			}
			name, idx, _ := strings.Cut(in, ":")
			if idx != "" && idx != "0" {
				return nil, nil, nil, fmt.Errorf("node %s reads output %s of %s: multi-output ops are not supported", n.name, idx, name)
			}
			src, ok := byName[name]
			if !ok {
				return nil, nil, nil, fmt.Errorf("node %s reads unknown node %s", n.name, name)
			}
			n.in = append(n.in, src)
			src.users = append(src.users, n)
		}
	}
	for _, n := range nodes {
		if n.op == "Placeholder" {
			inputs = append(inputs, n)
		}
	}
	if g.Signature != nil {
		// Some converters leave the shape only in the signature.
		for key, t := range g.Signature.Inputs {
			name := t.Name
			if name == "" {
				name = key
			}
			name, _, _ = strings.Cut(name, ":")
			n := byName[name]
			if n == nil || n.op != "Placeholder" || t.TensorShape == nil {
				continue
			}
			if a, ok := n.attr["shape"]; !ok || a.Shape == nil {
				if n.attr == nil {
					n.attr = map[string]attrJSON{}
				}
				a.Shape = &shapeJSON{Dim: t.TensorShape.Dim}
				n.attr["shape"] = a
			}
		}
	}
	if g.Signature != nil && len(g.Signature.Outputs) > 0 {
		want := map[string]bool{}
		for key, t := range g.Signature.Outputs {
			name := t.Name
			if name == "" {
				name = key
			}
			name, _, _ = strings.Cut(name, ":")
			if byName[name] == nil {
				return nil, nil, nil, fmt.Errorf("signature output %s is not a node", name)
			}
			want[name] = true
		}
		for _, n := range nodes {
			if want[n.name] {
				outputs = append(outputs, n)
			}
		}
	} else {
		for _, n := range nodes {
			if len(n.users) == 0 && n.op != "Const" && n.op != "Placeholder" {
				outputs = append(outputs, n)
			}
		}
	}
	if len(inputs) == 0 || len(outputs) == 0 {
		return nil, nil, nil, fmt.Errorf("graph has %d inputs and %d outputs", len(inputs), len(outputs))
	}
	return nodes, inputs, outputs, nil
}

// topoOrder lists the nodes the outputs depend on, each after its inputs.
func topoOrder(outputs []*node) ([]*node, error) {
	state := map[*node]uint8{} // 1 visiting, 2 done
	var order []*node
	var visit func(n *node) error
	visit = func(n *node) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("cycle through node %s", n.name)
		case 2:
			return nil
		}
		state[n] = 1
		for _, in := range n.in {
			if err := visit(in); err != nil {
				return err
			}
		}
		state[n] = 2
		order = append(order, n)
		return nil
	}
	for _, o := range outputs {
		if err := visit(o); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// relink recomputes users over the live nodes only, so fusion sees the real
// consumers after a rewrite left nodes dead.
func relink(order []*node) {
	for _, n := range order {
		n.users = n.users[:0]
	}
	for _, n := range order {
		for _, in := range n.in {
			in.users = append(in.users, n)
		}
	}
}

func constInts(n *node) ([]int, error) {
	if !n.isConst() {
		return nil, fmt.Errorf("%s must be a constant", n.name)
	}
	out := make([]int, len(n.val))
	for i, v := range n.val {
		out[i] = int(v)
	}
	return out, nil
}

// scalarConst reports the value of a constant with one element.
func scalarConst(n *node) (float32, bool) {
	if n.isConst() && len(n.val) == 1 {
		return n.val[0], true
	}
	return 0, false
}

// channelConst returns the per-channel values of a constant that broadcasts
// along the last axis of a tensor with c channels (a scalar is repeated).
func channelConst(n *node, c int) ([]float32, bool) {
	if !n.isConst() {
		return nil, false
	}
	if len(n.val) == 1 {
		return slices.Repeat(n.val, c), true
	}
	if len(n.val) != c || (len(n.shape) > 0 && n.shape[len(n.shape)-1] != c) {
		return nil, false
	}
	return n.val, true
}

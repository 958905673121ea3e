// Package nn runs TensorFlow.js graph models (model.json plus weight shards)
// in pure Go: it loads, checks and plans a graph once, then runs inferences
// with no heap allocation, from any number of goroutines.
//
// Loading fails, naming the op, if the graph uses an op the runtime lacks, so
// a model that loads runs. Every shape is static (batch fixed to 1): at load
// the runtime infers them, folds constant subgraphs, folds zero Pads and
// per-channel scale/bias/activations into the convolution before them,
// packs the weights once for kernel.Gemm, and places every intermediate
// tensor in one arena where tensors whose lives do not overlap share memory.
//
// A *Model is immutable and shared. Each inference runs in a *Session, which
// owns an arena:
//
//	m, err := nn.LoadGraphModel(path)
//	...
//	s := m.Acquire() // from a sync.Pool; or m.NewSession() to keep one
//	defer s.Release()
//	copy(s.Input(0), pixels) // NHWC float32, shape m.Inputs()[0].Shape
//	s.Run()
//	out := s.Output(0) // valid until the next Run or Release
//
// The same ops are exported for networks shipped as weights only (their
// architecture lives in code): LoadWeightsManifest reads the tensors, and
// Conv2D, Dense and the elementwise functions run them.
package nn

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
// architecture lives in code, e.g. face-api's ResNet): LoadWeightsManifest
// reads the tensors; NewConv2D, NewDepthwiseConv2D and NewDense pack them
// once into layers with a fused Epilogue (bias, ReLU/ReLU6/PReLU/...), and
// MaxPool, AvgPool, Pad, Binary (Add, Mul, ... with broadcasting),
// ScaleShift (batch norm), Activate, Mean and Softmax complete the set. The
// layers, pools, ScaleShift and Activate allocate nothing given outputs and
// scratch; Pad, Binary and Mean allocate a little shape metadata per call.
package nn

// Package nn runs TensorFlow.js graph models (model.json plus weight shards)
// and ONNX models in pure Go: it loads, checks and plans a graph once, then
// runs inferences with no heap allocation, from any number of goroutines.
//
// Layout: the runtime is NHWC (channels last) inside and at its edges, for
// both formats. An ONNX model declares its images NCHW ([1,3,112,112] for
// fr_feature); LoadONNX converts its weights once, at load, and the model
// takes and reports rank-4 tensors NHWC: Inputs()[0].Shape is [1,112,112,3]
// and Session.Input(0) is filled with float32 pixels row by row, the
// channels of each pixel together (in the channel order and scaling the
// model was trained with, e.g. BGR (v−127)/128 for fr_feature). Tensors of
// other ranks keep the model's layout: fr_feature's output is [1,512]. The
// batch is fixed to 1.
//
// Both front ends translate their file into one graph of the runtime's own
// ops (an op enum with typed attributes; each op's shape inference, fusion
// into a convolution's epilogue and execution are registered in one table),
// so the planner, arena, fusions and kernels are shared.
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
//	m, err := nn.LoadGraphModel(path) // or nn.LoadONNX(path)
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

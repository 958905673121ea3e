package nn

import (
	"runtime"
	"slices"
	"time"

	"github.com/portrait-id/portrait/nn/kernel"
)

// BenchResult is the speed of one model on this machine, one goroutine,
// batch 1.
type BenchResult struct {
	Iters        int
	P50          time.Duration
	Min          time.Duration
	CPU          time.Duration // process CPU time per Run: robust to a busy machine
	GFLOPs       float64       // Model.FLOPs over P50, in 1e9 per second
	AllocsPerRun float64       // heap allocations of the whole process per Run
	Path         kernel.Path
}

// BenchModel times iters inferences (after one warm-up) on one session fed a
// constant input, for `portrait bench models`.
func BenchModel(m *Model, iters int) BenchResult {
	iters = max(iters, 1)
	s := m.NewSession()
	for i := range m.inputs {
		in := s.Input(i)
		for j := range in {
			in[j] = 0.5
		}
	}
	s.Run()
	times := make([]time.Duration, iters)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c0 := cpuTime()
	for i := range times {
		t0 := time.Now()
		s.Run()
		times[i] = time.Since(t0)
	}
	cpu := cpuTime() - c0
	runtime.ReadMemStats(&after)
	slices.Sort(times)
	r := BenchResult{
		Iters:        iters,
		P50:          times[iters/2],
		Min:          times[0],
		CPU:          cpu / time.Duration(iters),
		AllocsPerRun: float64(after.Mallocs-before.Mallocs) / float64(iters),
		Path:         kernel.Current(),
	}
	if r.P50 > 0 {
		r.GFLOPs = float64(m.flops) / r.P50.Seconds() / 1e9
	}
	return r
}

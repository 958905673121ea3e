package nn

import (
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/portrait-id/portrait/models"
)

func loadTestModel(t testing.TB, name string) *Model {
	t.Helper()
	dir := modelsDir(t)
	for _, tm := range testModels {
		if tm.name == name {
			m, err := LoadGraphModel(models.Path(dir, tm.pkg, tm.rel))
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatalf("no test model %s", name)
	return nil
}

// BenchmarkModel times one inference per model on one goroutine:
//
//	go test -run '^$' -bench Model -benchtime 2s ./nn
func BenchmarkModel(b *testing.B) {
	for _, tm := range testModels {
		b.Run(tm.name, func(b *testing.B) {
			m := loadTestModel(b, tm.name)
			s := m.NewSession()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				s.Run()
			}
			b.ReportMetric(float64(m.FLOPs())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func TestRunAllocatesNothing(t *testing.T) {
	for _, tm := range testModels {
		t.Run(tm.name, func(t *testing.T) {
			m := loadTestModel(t, tm.name)
			s := m.NewSession()
			forEachPath(t, func(t *testing.T) {
				if n := allocs(s.Run); n != 0 {
					t.Errorf("Run: %v allocations", n)
				}
			})
			if raceEnabled {
				return
			}
			m.Acquire().Release()
			if n := allocs(func() {
				s := m.Acquire()
				s.Run()
				s.Release()
			}); n != 0 {
				t.Errorf("Acquire, Run, Release: %v allocations", n)
			}
		})
	}
}

// allocs counts the allocations of one call of f, the fewest of three
// tries: the count is process-wide, and the test framework's own goroutines
// sometimes allocate meanwhile, while an allocation of f shows every time.
// (One call per try: AllocsPerRun divides in integers.)
func allocs(f func()) float64 {
	n := testing.AllocsPerRun(1, f)
	for range 2 {
		n = min(n, testing.AllocsPerRun(1, f))
	}
	return n
}

// TestConcurrentSessions runs one model from several goroutines and checks
// every result equals the single-goroutine one (go test -race covers the
// sharing).
func TestConcurrentSessions(t *testing.T) {
	m := loadTestModel(t, "facemesh")
	gc := readGolden(t, "facemesh")
	ref := m.NewSession()
	copy(ref.Input(0), gc.input)
	ref.Run()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 3 {
				s := m.Acquire()
				copy(s.Input(0), gc.input)
				s.Run()
				for i := range m.Outputs() {
					for j, v := range s.Output(i) {
						if v != ref.Output(i)[j] {
							t.Errorf("output %d[%d] = %v, want %v", i, j, v, ref.Output(i)[j])
							break
						}
					}
				}
				s.Release()
			}
		})
	}
	wg.Wait()
}

func TestBenchModel(t *testing.T) {
	m := loadTestModel(t, "liveness")
	r := BenchModel(m, 20)
	// AllocsPerRun counts the whole process: a stray allocation of the test
	// framework is a fraction, one per Run would be 1.
	if r.P50 <= 0 || r.GFLOPs <= 0 || r.AllocsPerRun >= 1 {
		t.Errorf("BenchModel = %+v", r)
	}
}

// TestBenchTable prints BenchModel for every model and kernel path when
// NN_BENCH is set (a shared machine makes the minimum the steadier figure):
//
//	NN_BENCH=200 go test -run TestBenchTable -v ./nn
func TestBenchTable(t *testing.T) {
	iters, _ := strconv.Atoi(os.Getenv("NN_BENCH"))
	if iters <= 0 {
		t.Skip("set NN_BENCH=<iterations> to print the benchmark table")
	}
	for _, tm := range testModels {
		m := loadTestModel(t, tm.name)
		forEachPath(t, func(t *testing.T) {
			r := BenchModel(m, iters)
			t.Logf("%-16s %-8s p50 %7.3f ms  min %7.3f ms  %6.1f GFLOP/s  %.3f GFLOP  allocs/run %g",
				tm.name, r.Path, ms(r.P50), ms(r.Min), r.GFLOPs, float64(m.FLOPs())/1e9, r.AllocsPerRun)
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/portrait-id/portrait/models"
	"github.com/portrait-id/portrait/nn"
	"github.com/portrait-id/portrait/nn/kernel"
)

func init() {
	register("bench models", "time every face model on one thread: median ms, GFLOPS, allocations, kernel path", benchModels)
}

// benchedModels are the graph models of the pinned packages that the runtime
// must run, by package and file stem.
var benchedModels = []struct{ pkg, stem string }{
	{"human", "blazeface"},
	{"human", "facemesh"},
	{"human", "faceres"},
	{"human", "antispoof"},
	{"human", "liveness"},
	{"human-models", "blazeface-front"},
	{"human-models", "mobilefacenet"},
	{"human-models", "mobileface"},
	{"human-models", "faceres-deep"},
}

type modelBench struct {
	Model        string  `json:"model"`
	MsP50        float64 `json:"ms_p50"`
	MsMin        float64 `json:"ms_min"`
	GFLOPS       float64 `json:"gflops"`
	AllocsPerRun float64 `json:"allocs_per_run"`
	Kernel       string  `json:"kernel"`
	Iters        int     `json:"iters"`
}

func benchModels(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("portrait bench models", flag.ContinueOnError)
	dir := fs.String("models", models.DefaultDir(), "model cache directory")
	iters := fs.Int("iters", 50, "timed inferences per model (after one warm-up)")
	path := fs.String("kernel", string(kernel.Current()), "kernel path: avx512, avx2 or portable")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := models.Check(*dir); err != nil {
		return err
	}
	if err := kernel.SetPath(kernel.Path(*path)); err != nil {
		return err
	}
	// One thread, as the targets are stated per core.
	runtime.GOMAXPROCS(1)

	loaded := make([]*nn.Model, len(benchedModels))
	for i, bm := range benchedModels {
		m, err := nn.LoadGraphModel(models.Path(*dir, bm.pkg, "models/"+bm.stem+".json"))
		if err != nil {
			return err
		}
		loaded[i] = m
	}
	runtime.GC()
	debug.FreeOSMemory()
	rss := residentMB()

	rows := make([]modelBench, len(loaded))
	for i, m := range loaded {
		r := nn.BenchModel(m, *iters)
		rows[i] = modelBench{
			Model:        benchedModels[i].stem,
			MsP50:        float64(r.P50.Microseconds()) / 1000,
			MsMin:        float64(r.Min.Microseconds()) / 1000,
			GFLOPS:       r.GFLOPs,
			AllocsPerRun: r.AllocsPerRun,
			Kernel:       string(r.Path),
			Iters:        r.Iters,
		}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tms p50\tms min\tGFLOPS\tallocs/run\tkernel\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.1f\t%.0f\t%s\t\n", r.Model, r.MsP50, r.MsMin, r.GFLOPS, r.AllocsPerRun, r.Kernel)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rss > 0 {
		fmt.Printf("\nresident memory with all %d models loaded: %.0f MB\n", len(loaded), rss)
	}
	return nil
}

// residentMB reads VmRSS from /proc (Linux); 0 elsewhere.
func residentMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	var kb float64
	for _, line := range strings.Split(string(b), "\n") {
		if n, _ := fmt.Sscanf(line, "VmRSS: %f kB", &kb); n == 1 {
			return kb / 1024
		}
	}
	return 0
}

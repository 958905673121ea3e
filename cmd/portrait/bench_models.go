package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/portrait-id/portrait/models"
	"github.com/portrait-id/portrait/nn"
	"github.com/portrait-id/portrait/nn/kernel"
)

func init() {
	register("bench models", "time every face model on one thread: median and best ms, CPU ms per inference, GFLOPS, allocations, kernel path", benchModels)
}

// benchedModels are the models of the pinned packages that the runtime must
// run, by package and path inside it: TF.js graphs (.json) and ONNX files.
var benchedModels = []struct{ pkg, rel string }{
	{"human", "models/blazeface.json"},
	{"human", "models/facemesh.json"},
	{"human", "models/faceres.json"},
	{"human", "models/antispoof.json"},
	{"human", "models/liveness.json"},
	{"human-models", "models/blazeface-front.json"},
	{"human-models", "models/mobilefacenet.json"},
	{"human-models", "models/mobileface.json"},
	{"human-models", "models/faceres-deep.json"},
	{"faceplugin", "model/fr_feature.onnx"},
}

type modelBench struct {
	Model        string  `json:"model"`
	MsP50        float64 `json:"ms_p50"`
	MsMin        float64 `json:"ms_min"`
	CPUMs        float64 `json:"cpu_ms"`
	GFLOPS       float64 `json:"gflops"`
	AllocsPerRun float64 `json:"allocs_per_run"`
	Kernel       string  `json:"kernel"`
	Iters        int     `json:"iters"`
}

func benchModels(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("portrait bench models", flag.ContinueOnError)
	dir := fs.String("models", models.DefaultDir(), "model cache directory")
	iters := fs.Int("iters", 50, "timed inferences per model (after one warm-up)")
	kpath := fs.String("kernel", string(kernel.Current()), "kernel path: avx512, avx2 or portable")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := models.Check(*dir); err != nil {
		return err
	}
	if err := kernel.SetPath(kernel.Path(*kpath)); err != nil {
		return err
	}
	// One thread, as the targets are stated per core.
	runtime.GOMAXPROCS(1)

	loaded := make([]*nn.Model, len(benchedModels))
	for i, bm := range benchedModels {
		load := nn.LoadGraphModel
		if path.Ext(bm.rel) == ".onnx" {
			load = nn.LoadONNX
		}
		m, err := load(models.Path(*dir, bm.pkg, bm.rel))
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
			Model:        strings.TrimSuffix(path.Base(benchedModels[i].rel), path.Ext(benchedModels[i].rel)),
			MsP50:        float64(r.P50.Microseconds()) / 1000,
			MsMin:        float64(r.Min.Microseconds()) / 1000,
			CPUMs:        float64(r.CPU.Microseconds()) / 1000,
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
	fmt.Fprintln(tw, "model\tms p50\tms min\tCPU ms\tGFLOPS\tallocs/run\tkernel\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.1f\t%.0f\t%s\t\n", r.Model, r.MsP50, r.MsMin, r.CPUMs, r.GFLOPS, r.AllocsPerRun, r.Kernel)
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

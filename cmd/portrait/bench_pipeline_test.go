package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/portrait-id/portrait/models"
)

// TestBenchPipeline times a faces-dev photo as a 480×640 selfie and checks
// the report: every stage took time, the frame is what was asked, and the
// photo compared with itself scores as the same person.
func TestBenchPipeline(t *testing.T) {
	photo := filepath.Join(facesDev, "lfw_Aaron_Peirsol", "0001.jpg")
	if _, err := os.Stat(photo); err != nil {
		t.Skipf("faces-dev not present: %v", err)
	}
	if err := models.Check(models.DefaultDir()); err != nil {
		t.Skipf("models not fetched: %v", err)
	}
	code, out := runOut(t, "bench", "pipeline", "--iters", "3", "--frame", "480x640", "--quality", "85", "--json", photo)
	if code != 0 {
		t.Fatalf("bench pipeline exited %d", code)
	}
	var rows []pipelineBench
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	if r.Width != 480 || r.Height != 640 || r.KB < 5 || r.Iters != 3 {
		t.Errorf("selfie %d×%d %.1f KB, %d iterations", r.Width, r.Height, r.KB, r.Iters)
	}
	for name, ms := range map[string]float64{"decode": r.DecodeMs, "detect": r.DetectMs, "landmarks": r.LandmarksMs, "embed": r.EmbedMs} {
		if ms <= 0 {
			t.Errorf("%s took %v ms", name, ms)
		}
	}
	if r.P90Ms < r.P50Ms || r.P50Ms < r.EmbedMs {
		t.Errorf("p50 %v, p90 %v, embed %v", r.P50Ms, r.P90Ms, r.EmbedMs)
	}
	if r.Score < 90 {
		t.Errorf("a photo against itself scored %v", r.Score)
	}
	// A call cannot take more CPU than time; it takes some wherever the
	// thread clock exists.
	if _, ok := threadCPU(); ok && (r.CPUP50Ms <= 0 || r.CPUP50Ms > 1.05*r.P90Ms) {
		t.Errorf("CPU p50 %v ms against wall p50 %v, p90 %v", r.CPUP50Ms, r.P50Ms, r.P90Ms)
	}
}

// TestBenchPipelineUsage: no photo is a usage error, not a crash.
func TestBenchPipelineUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "pipeline"},
		{"bench", "pipeline", "--frame", "big", "x.jpg"},
		{"bench", "pipeline", "--iters", "0", "x.jpg"},
	} {
		if code, _ := runOut(t, args...); code == 0 {
			t.Errorf("%v exited 0", args)
		}
	}
}

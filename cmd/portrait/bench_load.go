package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/portrait-id/portrait/client"
)

func init() {
	register("bench load", "drive a running service with concurrent signed calls from real photos; print throughput, latency percentiles and codes", benchLoad)
}

func benchLoad(ctx context.Context, args []string) error {
	return runBenchLoad(ctx, args, os.Stdout)
}

// loadReport is what one load run measured.
type loadReport struct {
	Concurrency int            `json:"concurrency"`
	Calls       int            `json:"calls"`
	Errors      int            `json:"errors"` // calls that got no envelope (network, timeout)
	Seconds     float64        `json:"seconds"`
	PerSecond   float64        `json:"calls_per_second"`
	LatencyMS   latencySummary `json:"latency_ms"`
	// Codes counts answers by "code/charge", e.g. "0000/1".
	Codes map[string]int `json:"codes"`
	// FirstError is one transport error, to say why calls failed.
	FirstError string `json:"first_error,omitempty"`
}

type latencySummary struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func runBenchLoad(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("portrait bench load", flag.ContinueOnError)
	baseURL := fs.String("url", "http://127.0.0.1:8080", "service base URL")
	appKey := fs.String("app-key", "", "merchant app_key (required; give the merchant a rate limit above the load)")
	appSecret := fs.String("app-secret", os.Getenv("PORTRAIT_APP_SECRET"), "merchant app_secret (or env PORTRAIT_APP_SECRET, kept out of shell history)")
	idNumber := fs.String("id-number", "", "registered ID number every call verifies (required)")
	name := fs.String("name", "", "its holder's name (required)")
	selfies := fs.String("selfies", "", "glob of selfie image files, sent in turn (required), e.g. '/work/shared/faces-dev/lfw_Aaron_Peirsol/*.jpg'")
	maxPhotos := fs.Int("max-photos", 64, "load at most this many of the files matched")
	concurrency := fs.Int("concurrency", 4, "calls in flight at once")
	calls := fs.Int("calls", 0, "stop after this many calls (or use --duration)")
	duration := fs.Duration("duration", 0, "stop starting calls after this long (or use --calls)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on one call after this long")
	multipart := fs.Bool("multipart", false, "send selfies as multipart selfie_file instead of form selfie_base64")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	problem := ""
	switch {
	case *appKey == "" || *appSecret == "" || *idNumber == "" || *name == "" || *selfies == "":
		problem = "--app-key, --app-secret, --id-number, --name and --selfies are required"
	case (*calls > 0) == (*duration > 0):
		problem = "give exactly one of --calls and --duration"
	case *concurrency < 1 || *maxPhotos < 1:
		problem = "--concurrency and --max-photos must be at least 1"
	}
	if problem != "" {
		fmt.Fprintf(os.Stderr, "portrait bench load: %s\n", problem)
		fs.Usage()
		return errUsage
	}
	photos, err := loadPhotos(*selfies, *maxPhotos)
	if err != nil {
		return err
	}
	// One connection per worker, kept alive: the run measures the service,
	// not TCP handshakes.
	hc := &http.Client{Timeout: *timeout, Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency, MaxConnsPerHost: *concurrency}}
	c := client.New(*baseURL, *appKey, *appSecret, client.WithHTTPClient(hc))
	rep := driveLoad(ctx, c, loadPlan{
		concurrency: *concurrency, calls: *calls, duration: *duration,
		request: func(i int) client.Request {
			return client.Request{IDNumber: *idNumber, Name: *name, Selfie: photos[i%len(photos)], UseMultipart: *multipart}
		},
	})
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printLoadReport(stdout, rep)
	return nil
}

func loadPhotos(pattern string, max int) ([][]byte, error) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("--selfies %q: %w", pattern, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("--selfies %q matches no file", pattern)
	}
	sort.Strings(files)
	var photos [][]byte
	for _, f := range files[:min(max, len(files))] {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read selfie: %w", err)
		}
		photos = append(photos, b)
	}
	return photos, nil
}

type loadPlan struct {
	concurrency int
	calls       int           // stop after this many; 0: use duration
	duration    time.Duration // stop starting calls after this long
	request     func(i int) client.Request
}

// driveLoad runs the plan's calls from concurrency workers, each starting
// its next call as soon as its last one is answered (a closed loop: the
// offered load adapts to the service, so throughput at saturation is what
// is measured).
func driveLoad(ctx context.Context, c *client.Client, plan loadPlan) loadReport {
	var (
		next     atomic.Int64
		mu       sync.Mutex
		latency  []time.Duration
		codes    = map[string]int{}
		errCount int
		firstErr string
		wg       sync.WaitGroup
	)
	start := time.Now()
	var deadline time.Time
	if plan.duration > 0 {
		deadline = start.Add(plan.duration)
	}
	for range plan.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if (plan.calls > 0 && i >= plan.calls) || (!deadline.IsZero() && time.Now().After(deadline)) {
					return
				}
				t0 := time.Now()
				res, err := c.Verify(ctx, plan.request(i))
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					errCount++
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					latency = append(latency, d)
					codes[fmt.Sprintf("%s/%d", res.Code, res.Charge)]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	rep := loadReport{
		Concurrency: plan.concurrency, Calls: len(latency) + errCount, Errors: errCount,
		Seconds: elapsed.Seconds(), Codes: codes, FirstError: firstErr,
		LatencyMS: summarize(latency),
	}
	if elapsed > 0 {
		rep.PerSecond = float64(len(latency)) / elapsed.Seconds()
	}
	return rep
}

// summarize gives nearest-rank percentiles of the answered calls' latency.
func summarize(ds []time.Duration) latencySummary {
	if len(ds) == 0 {
		return latencySummary{}
	}
	slices.Sort(ds)
	at := func(p float64) float64 {
		i := int(p*float64(len(ds)) + 0.999999)
		return ms(ds[min(max(i, 1), len(ds))-1])
	}
	return latencySummary{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ms(ds[len(ds)-1])}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func printLoadReport(w io.Writer, r loadReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "calls\t%d in %.1f s, %d in flight\n", r.Calls, r.Seconds, r.Concurrency)
	fmt.Fprintf(tw, "throughput\t%.2f answered calls/s\n", r.PerSecond)
	fmt.Fprintf(tw, "latency ms\tp50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", r.LatencyMS.P50, r.LatencyMS.P90, r.LatencyMS.P99, r.LatencyMS.Max)
	keys := make([]string, 0, len(r.Codes))
	for k := range r.Codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(tw, "code/charge %s\t%d\n", k, r.Codes[k])
	}
	if r.Errors > 0 {
		fmt.Fprintf(tw, "no answer\t%d (first: %s)\n", r.Errors, r.FirstError)
	}
	tw.Flush()
}

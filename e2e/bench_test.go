package e2e

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portrait-id/portrait/client"
)

// BenchmarkProtocolPath measures the protocol path alone over loopback with
// concurrent clients: parse, authenticate (signature, timestamp, account),
// idempotency lookup, rate limit and quota, ID rules, and the SQLite ledger
// row; every call stops at the ID number's checksum (1002), before the face
// pipeline. Reports calls/s and the p50/p99 latency seen by the clients.
//
//	go test ./e2e -run '^$' -bench ProtocolPath -benchtime 20000x
func BenchmarkProtocolPath(b *testing.B) {
	w := getWorld(b)
	before := len(w.ledgerRows(b, w.bench.appKey))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	selfie := []byte("\xff\xd8\xff\xe0 never decoded: the ID number fails first")
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
	)
	b.SetParallelism(64) // 128 clients on 2 cores
	b.ResetTimer()
	cpuBefore := processCPU()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c := w.bench.client(w, client.WithHTTPClient(hc))
		var local []time.Duration
		for pb.Next() {
			t0 := time.Now()
			r, err := c.Verify(context.Background(), client.Request{IDNumber: idBadCheck, Name: nameWithPhoto, Selfie: selfie})
			local = append(local, time.Since(t0))
			if err != nil || r.Code != client.CodeParameter {
				b.Errorf("answer %v, %v", r, err)
				return
			}
		}
		mu.Lock()
		latencies = append(latencies, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	cpu := processCPU() - cpuBefore
	b.StopTimer()

	slices.Sort(latencies)
	at := func(q float64) float64 {
		return float64(latencies[int(q*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "calls/s")
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	// On a shared machine calls/s says how busy the neighbours were; the CPU
	// time per call (clients included, as they run in this process) says
	// what two idle cores would sustain: 2 s / cpu-µs per call.
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(latencies)), "cpu-µs/call")
	b.ReportMetric(0, "ns/op") // calls/s says it, for concurrent calls
	if rows := len(w.ledgerRows(b, w.bench.appKey)) - before; rows != len(latencies) {
		b.Errorf("%d ledger rows for %d calls", rows, len(latencies))
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

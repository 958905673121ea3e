package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portrait-id/portrait/sign"
)

// loadStandIn checks each call's signature as the service does and answers
// every third call 1006, the others 0000 charged, after a short pause.
func loadStandIn(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseMultipartForm(1 << 20)
		f := r.Form
		want := sign.Compute(f.Get("app_key"), f.Get("id_number"), f.Get("name"), f.Get("request_id"), f.Get("timestamp"), "S3CRET")
		if !sign.Equal(want, f.Get("sign")) || f.Get("selfie_base64") == "" {
			w.Write([]byte(`{"trace_id":"TID0","code":"1000","msg":"验签失败","charge":2}`))
			return
		}
		time.Sleep(2 * time.Millisecond)
		if n.Add(1)%3 == 0 {
			w.Write([]byte(`{"trace_id":"TID1","code":"1006","msg":"调用频率过高","charge":2}`))
			return
		}
		w.Write([]byte(`{"trace_id":"TID2","code":"0000","msg":"调用成功","data":{"result":1,"id_name":1,"photo":1,"score":88},"charge":1}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestBenchLoad(t *testing.T) {
	srv, served := loadStandIn(t)
	dir := t.TempDir()
	for _, f := range []string{"a.jpg", "b.jpg"} {
		os.WriteFile(filepath.Join(dir, f), []byte("jpeg "+f), 0o600)
	}
	base := []string{"--url", srv.URL, "--app-key", "K", "--app-secret", "S3CRET", "--id-number", "110101199003077512",
		"--name", "张三", "--selfies", filepath.Join(dir, "*.jpg"), "--concurrency", "5", "--json"}

	var out bytes.Buffer
	if err := runBenchLoad(context.Background(), append(base, "--calls", "30"), &out); err != nil {
		t.Fatal(err)
	}
	var rep loadReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	if rep.Calls != 30 || rep.Errors != 0 || rep.Codes["0000/1"] != 20 || rep.Codes["1006/2"] != 10 || len(rep.Codes) != 2 {
		t.Errorf("report %+v; want 30 calls: 20 × 0000/1, 10 × 1006/2", rep)
	}
	if served.Load() != 30 {
		t.Errorf("the service got %d signed calls, want 30", served.Load())
	}
	if !(rep.LatencyMS.P50 >= 2 && rep.LatencyMS.P50 <= rep.LatencyMS.P90 && rep.LatencyMS.P90 <= rep.LatencyMS.P99 &&
		rep.LatencyMS.P99 <= rep.LatencyMS.Max) || rep.PerSecond <= 0 {
		t.Errorf("latency %+v, throughput %v: want ordered percentiles of at least the stand-in's 2 ms", rep.LatencyMS, rep.PerSecond)
	}

	out.Reset()
	if err := runBenchLoad(context.Background(), append(base[:len(base)-1], "--duration", "200ms"), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"throughput", "latency ms", "code/charge 0000/1", "code/charge 1006/2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBenchLoadCountsCallsWithoutAnswer(t *testing.T) {
	srv, _ := loadStandIn(t)
	url := srv.URL
	srv.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.jpg"), []byte("jpeg"), 0o600)
	var out bytes.Buffer
	err := runBenchLoad(context.Background(), []string{"--url", url, "--app-key", "K", "--app-secret", "S", "--id-number", "1",
		"--name", "n", "--selfies", filepath.Join(dir, "*.jpg"), "--calls", "4", "--json"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	var rep loadReport
	json.Unmarshal(out.Bytes(), &rep)
	if rep.Calls != 4 || rep.Errors != 4 || rep.FirstError == "" || len(rep.Codes) != 0 {
		t.Errorf("report %+v; want 4 calls without answer and the first error", rep)
	}
}

func TestBenchLoadFlags(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.jpg"), []byte("jpeg"), 0o600)
	ok := []string{"--app-key", "K", "--app-secret", "S", "--id-number", "1", "--name", "n", "--selfies", filepath.Join(dir, "*.jpg")}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"neither calls nor duration", ok},
		{"both calls and duration", append(ok, "--calls", "1", "--duration", "1s")},
		{"no selfie matched", append(ok[:len(ok)-1:len(ok)-1], filepath.Join(dir, "*.png"), "--calls", "1")},
		{"zero concurrency", append(ok, "--calls", "1", "--concurrency", "0")},
		{"missing app key", append([]string{"--calls", "1"}, ok[2:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := runBenchLoad(context.Background(), tc.args, &bytes.Buffer{}); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // reversed: summarize sorts
	}
	cases := []struct {
		name string
		in   []time.Duration
		want latencySummary
	}{
		{"none", nil, latencySummary{}},
		{"one", ms(7), latencySummary{7, 7, 7, 7}},
		{"hundred", ms(hundred...), latencySummary{50, 90, 99, 100}},
		{"ten", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), latencySummary{5, 9, 10, 10}},
	}
	for _, c := range cases {
		if got := summarize(c.in); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

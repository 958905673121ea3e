package cluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/image/tiff"

	"github.com/portrait-id/portrait/client"
)

// rssLimit is the most resident memory a server may reach under the
// hostile loads below, its face models included.
const rssLimit = 1 << 30

// peakRSS is a process's high-water mark of resident memory (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int64
		if _, err := fmt.Sscanf(sc.Text(), "VmHWM: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// wideTIFF is a 4096×4096 selfie of 16-bit samples (grey or RGB) that
// compresses to a few hundred KB: cheap to send, costly to decode naively.
func wideTIFF(t *testing.T, rgb bool) []byte {
	t.Helper()
	r := image.Rect(0, 0, 4096, 4096)
	var img image.Image
	if rgb {
		m := image.NewRGBA64(r)
		for y := 0; y < 4096; y++ {
			for x := 0; x < 4096; x++ {
				m.SetRGBA64(x, y, color.RGBA64{uint16(x * 16), uint16(y * 16), 0x8000, 0xffff})
			}
		}
		img = m
	} else {
		m := image.NewGray16(r)
		for y := 0; y < 4096; y++ {
			for x := 0; x < 4096; x++ {
				m.SetGray16(x, y, color.Gray16{uint16((x / 64) * 512)})
			}
		}
		img = m
	}
	var buf bytes.Buffer
	if err := tiff.Encode(&buf, img, &tiff.Options{Compression: tiff.Deflate, Predictor: true}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Eight concurrent 16-bit 4096×4096 TIFF selfies, again and again, beside a
// merchant's ordinary traffic: the server stays under 1 GB and the ordinary
// calls keep answering 0000 within their deadline.
func TestWideSelfiesBesideNormalTraffic(t *testing.T) {
	db := t.TempDir() + "/portrait.db"
	key, secret := prepare(t, db)
	// One person verified over and over: the per-ID limits would answer
	// most ordinary calls 1006 before the wide selfies could matter.
	srv := startServer(t, db, "--id-daily-limit", "0", "--id-daily-global", "0")
	c := client.New(srv.url, key, secret, client.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	bombs := [][]byte{wideTIFF(t, false), wideTIFF(t, true)}
	normal := client.Request{IDNumber: idNumber, Name: name, Selfie: selfie(t)}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	bombCodes := map[client.Code]int{}
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				res, err := c.Verify(ctx, client.Request{IDNumber: idNumber, Name: name, Selfie: bombs[i%2]})
				if err != nil {
					continue
				}
				mu.Lock()
				bombCodes[res.Code]++
				mu.Unlock()
				if res.Charged() {
					t.Errorf("a wide TIFF was charged: %s", res.Raw)
				}
			}
		}()
	}
	var worst time.Duration
	calls := 0
	for ctx.Err() == nil {
		start := time.Now()
		res, err := c.Verify(context.Background(), normal)
		took := time.Since(start)
		if err != nil || res.Code != client.CodeOK {
			t.Errorf("ordinary call beside the wide selfies: %v %s", err, res.Raw)
			continue
		}
		worst, calls = max(worst, took), calls+1
	}
	wg.Wait()
	if worst > 10*time.Second {
		t.Errorf("slowest ordinary call %s, past the 10 s call deadline", worst)
	}
	rss := peakRSS(t, srv.cmd.Process.Pid)
	t.Logf("%d ordinary calls, slowest %s; wide selfies answered %v; peak RSS %d MB", calls, worst, bombCodes, rss>>20)
	if rss > rssLimit {
		t.Errorf("peak RSS %d MB, over %d MB", rss>>20, rssLimit>>20)
	}
}

// Four hundred concurrent bodies of 2.8 MB from callers without credentials:
// every one is answered (1009, or 1006 busy while the body budget is full)
// and the server stays under 1 GB.
func TestFloodOfLargeBodiesWithoutCredentials(t *testing.T) {
	db := t.TempDir() + "/portrait.db"
	prepare(t, db)
	srv := startServer(t, db)
	v := url.Values{"app_key": {"nobody"}, "request_id": {"r1"}, "id_number": {idNumber}, "name": {name},
		"timestamp": {fmt.Sprint(time.Now().UnixMilli())}, "sign": {strings.Repeat("0", 32)}}
	body := []byte(v.Encode() + "&selfie_base64=" + strings.Repeat("A", 2_796_000))
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 400}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[client.Code]int{}
	failed := 0
	errs := map[string]int{}
	for range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := hc.Post(srv.url+client.Path, "application/x-www-form-urlencoded", bytes.NewReader(body))
			var r *client.Response
			if err == nil {
				var buf bytes.Buffer
				buf.ReadFrom(res.Body)
				res.Body.Close()
				r, err = client.ParseResponse(buf.Bytes())
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				errs[err.Error()]++
				return
			}
			codes[r.Code]++
		}()
	}
	wg.Wait()
	rss := peakRSS(t, srv.cmd.Process.Pid)
	t.Logf("answers %v, %d without an answer %v; peak RSS %d MB", codes, failed, errs, rss>>20)
	if failed > 0 || codes[client.CodeAppKey]+codes[client.CodeRateLimited] != 400 {
		t.Errorf("answers %v and %d failures; want 400 answered 1009 or 1006", codes, failed)
	}
	if rss > rssLimit {
		t.Errorf("peak RSS %d MB, over %d MB", rss>>20, rssLimit>>20)
	}
}

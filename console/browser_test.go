package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/portrait-id/portrait/store"
)

// screenshotsEnv names a folder where TestBrowser leaves its screenshots
// (dashboard, merchants, ledger, and the dashboard on a phone) for a
// person to look at.
const screenshotsEnv = "PORTRAIT_CONSOLE_SCREENSHOTS"

// chromium starts headless Chromium (Debian's package, which .ci/run
// installs) with a fresh profile and every background connection off: the
// machines have no network, and without these flags Chromium waits on
// connections it cannot make.
func chromium(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel3)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// seed writes calls of a few merchants over the last two weeks, so that the
// charts have something to draw.
func seed(t *testing.T, e *env) string {
	t.Helper()
	ctx := context.Background()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	var rows []store.LedgerRow
	var lastKey string
	for m, name := range []string{"Alpha 支付", "Beta Bank", "Gamma Loans", "Delta Mobile", "Epsilon Travel"} {
		c, err := e.app.Merchants.Create(ctx, merchantSettings(name))
		if err != nil {
			t.Fatal(err)
		}
		lastKey = c.Merchant.AppKey
		for d := range 14 {
			for i := range (m + 1) * (d%5 + 2) {
				r := store.LedgerRow{TraceID: fmt.Sprintf("TIDseed%d-%d-%d", m, d, i), AppKey: c.Merchant.AppKey,
					RequestID: fmt.Sprintf("order-%d-%d", d, i), Code: "0000", Result: 1, IDName: 1, Photo: 1, Score: 60 + float64(i%30),
					Charged: true, Latency: time.Duration(15+i%40) * time.Millisecond,
					Time: today.AddDate(0, 0, d-13).Add(time.Duration(i) * time.Minute), IDMasked: "110105********002X"}
				switch i % 7 {
				case 3:
					r.Code, r.Result, r.IDName, r.Photo, r.Score, r.Charged = "1002", 0, 0, 0, 0, false
				case 5:
					r.Result, r.IDName, r.Photo, r.Score, r.Reason, r.Charged = 2, 0, 0, 0, "blur", false
				case 6:
					if d%3 == 0 {
						r.Code, r.Result, r.IDName, r.Photo, r.Score, r.Charged = "1006", 0, 0, 0, 0, false
					}
				}
				rows = append(rows, r)
			}
		}
	}
	if _, err := e.app.Store.AppendLedger(ctx, rows); err != nil {
		t.Fatal(err)
	}
	// One call to look for, recorded as the service records calls.
	if err := e.app.Ledger.Record(ctx, store.LedgerRow{TraceID: "TIDdispute0001", AppKey: lastKey, RequestID: "order-dispute",
		Code: "0000", Result: 1, IDName: 1, Photo: 1, Score: 41.5, Charged: true, Latency: 38 * time.Millisecond,
		Time: time.Now().UTC(), IDMasked: "110105********002X"}); err != nil {
		t.Fatal(err)
	}
	return lastKey
}

// screenshot saves the page as name.png (the whole page, or with viewport
// only what a screen shows first, for long tables).
func screenshot(t *testing.T, ctx context.Context, name string, viewport bool) {
	t.Helper()
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		return
	}
	shot := chromedp.FullScreenshot(100)
	if viewport {
		shot = chromedp.CaptureScreenshot()
	}
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestBrowser drives the console in a real browser: log in, create a
// merchant, freeze it, find a call in the ledger, export CSV, and see a
// forged form (no CSRF token) refused.
func TestBrowser(t *testing.T) {
	ctx := chromium(t)
	e := newEnv(t)
	seed(t, e)
	base := e.srv.URL

	do(t, ctx, "log in",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=name]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=name]`), opName),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), opPassword),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`svg.chart`)),
	)
	if got := text(t, ctx, "header .who"); got != opName {
		t.Errorf("signed in as %q", got)
	}
	screenshot(t, ctx, "dashboard", false)

	do(t, ctx, "create a merchant",
		chromedp.Navigate(base+"/merchants"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/merchants"] input[name=name]`)),
		chromedp.SendKeys(chromedp.CSS(`form[action="/merchants"] input[name=name]`), "Browser Shop 浏览器"),
		chromedp.Click(chromedp.CSS(`form[action="/merchants"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#new-app-secret`)),
	)
	key, secret := text(t, ctx, "#new-app-key"), text(t, ctx, "#new-app-secret")
	if !strings.HasPrefix(key, "pk_") || len(secret) != 40 {
		t.Fatalf("created %q with secret %q", key, secret)
	}
	screenshot(t, ctx, "merchants", false)

	do(t, ctx, "freeze it",
		chromedp.Navigate(base+"/merchants/"+key),
		chromedp.WaitVisible(chromedp.CSS(`#set-frozen`)),
		chromedp.Click(chromedp.CSS(`#set-frozen`)),
		chromedp.WaitVisible(chromedp.CSS(`#set-active`)),
	)
	if got := text(t, ctx, "#status"); got != store.StatusFrozen {
		t.Errorf("status shown %q after freezing", got)
	}
	if m, err := e.app.Merchants.Get(context.Background(), key); err != nil || m.Status != store.StatusFrozen {
		t.Errorf("stored merchant %+v, %v", m, err)
	}
	page, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil || strings.Contains(page, secret) {
		t.Errorf("the merchant's page shows its secret (%v)", err)
	}

	do(t, ctx, "find a call",
		chromedp.Navigate(base+"/ledger"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=trace_id]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=trace_id]`), "TIDdispute0001"),
		chromedp.Submit(chromedp.CSS(`input[name=trace_id]`)),
		chromedp.WaitVisible(chromedp.CSS(`a#export[href*="TIDdispute0001"]`)),
	)
	if got := text(t, ctx, "table.ledger tbody"); !strings.Contains(got, "TIDdispute0001") || !strings.Contains(got, "41.5") || strings.Contains(got, "TIDseed") {
		t.Errorf("ledger search shows:\n%s", got)
	}
	do(t, ctx, "list the latest calls", chromedp.Navigate(base+"/ledger"), chromedp.WaitVisible(chromedp.CSS(`table.ledger`)))
	screenshot(t, ctx, "ledger", true)

	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "export CSV",
		chromedp.Navigate(base+"/ledger?trace_id=TIDdispute0001"),
		chromedp.WaitVisible(chromedp.CSS(`#export`)),
		chromedp.Click(chromedp.CSS(`#export`)),
	)
	csv := waitDownload(t, downloads)
	if lines := strings.Split(strings.TrimSpace(csv), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "time,trace_id,") ||
		!strings.Contains(lines[1], "TIDdispute0001") || !strings.Contains(lines[1], ",41.5,") {
		t.Errorf("exported CSV:\n%s", csv)
	}

	// A page elsewhere posts a form to the console with the operator's
	// cookie but without the CSRF token (which it cannot read).
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form id=f method=post action="%s/merchants"><input name=name value="Forged Shop"></form>
<script>document.getElementById('f').submit()</script>`, base)
	}))
	defer evil.Close()
	do(t, ctx, "forged post",
		chromedp.Navigate(evil.URL),
		void(chromedp.Poll[bool](`location.href.startsWith(`+"`"+base+"`"+`) && document.readyState === 'complete'`, chromedp.WithPollingTimeout(10*time.Second))),
	)
	// Both servers are on 127.0.0.1, one site, so the SameSite cookie went
	// along: the token is what refuses it.
	if got := text(t, ctx, "body"); !strings.Contains(got, "CSRF token is missing") {
		t.Errorf("forged post answered:\n%s", got)
	}
	// And a script on the console's own origin cannot post without it.
	do(t, ctx, "back", chromedp.Navigate(base+"/merchants"), chromedp.WaitVisible(chromedp.CSS(`table`)))
	refused, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(async () => {
		const r = await fetch('/merchants', {method: 'POST', body: new URLSearchParams({name: 'Forged Again'})});
		return r.status === 403;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || !refused {
		t.Errorf("a same-origin post without the token: refused %v, %v", refused, err)
	}
	ms, _ := e.app.Merchants.List(context.Background())
	for _, m := range ms {
		if strings.HasPrefix(m.Name, "Forged") {
			t.Errorf("a forged post created %+v", m)
		}
	}

	if os.Getenv(screenshotsEnv) != "" {
		do(t, ctx, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(chromedp.CSS(`svg.chart`)))
		screenshot(t, ctx, "dashboard-phone", false)
		do(t, ctx, "phone ledger", chromedp.Navigate(base+"/merchants"), chromedp.WaitVisible(chromedp.CSS(`table`)))
		screenshot(t, ctx, "merchants-phone", false)
	}
}

// void drops an action's result, to run it among others.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, tg)
		return chromedp.Void{}, err
	}
}

func waitDownload(t *testing.T, dir string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		// Chromium may create the file before it has written it: wait for
		// no partial download and a last line ended.
		files, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
		partial, _ := filepath.Glob(filepath.Join(dir, "*.crdownload"))
		if len(files) == 1 && len(partial) == 0 {
			b, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > 0 && b[len(b)-1] == '\n' {
				return string(b)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	entries, _ := os.ReadDir(dir)
	t.Fatalf("no CSV downloaded into %s (%v)", dir, entries)
	return ""
}

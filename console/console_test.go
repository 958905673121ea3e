package console_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/console"
	"github.com/portrait-id/portrait/models"
	"github.com/portrait-id/portrait/store"
)

const (
	opName     = "alice"
	opPassword = "correct horse battery"
)

// env is the assembled service (SQLite, no face pipeline) with its console
// on a test server and one operator.
type env struct {
	t   testing.TB
	db  string // the SQLite file
	app *app.App
	srv *httptest.Server
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, app.Config{Faces: app.FacesNone})
}

// newEnvWith is newEnv with the app configured by cfg (DB set here).
func newEnvWith(t testing.TB, cfg app.Config) *env {
	t.Helper()
	db := filepath.Join(t.TempDir(), "p.db")
	cfg.DB, cfg.Notices = db, io.Discard
	a, err := app.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	con, err := a.Console(false)
	if err != nil {
		t.Fatal(err)
	}
	if err := con.Accounts().Add(context.Background(), "cli", opName, opPassword); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(con)
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, app: a, srv: srv}
}

// browser is a client with a cookie jar that does not follow redirects, so
// that each answer can be checked.
type browser struct {
	t    testing.TB
	c    *http.Client
	base string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, base: e.srv.URL, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t testing.TB, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in:\n%s", page)
	}
	return m[1]
}

// login signs in and returns the session's CSRF token.
func (b *browser) login(name, password string) (int, string) {
	b.t.Helper()
	_, page := b.get("/login")
	code, _ := b.post("/login", url.Values{"csrf": {csrfOf(b.t, page)}, "name": {name}, "password": {password}})
	if code != http.StatusSeeOther {
		return code, ""
	}
	_, page = b.get("/")
	return code, csrfOf(b.t, page)
}

func TestLoginAndPagesNeedASession(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for _, p := range []string{"/", "/merchants", "/ledger", "/registry", "/audit", "/ledger.csv"} {
		if code, _ := b.get(p); code != http.StatusSeeOther {
			t.Errorf("GET %s without a session: %d, want a redirect to /login", p, code)
		}
	}
	if code, _ := b.post("/merchants", url.Values{"name": {"x"}}); code != http.StatusForbidden {
		t.Errorf("POST without a session: %d, want 403", code)
	}
	if code, _ := b.login(opName, "wrong password!"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", code)
	}
	if code, _ := b.login("nobody", opPassword); code != http.StatusUnauthorized {
		t.Errorf("unknown operator: %d, want 401", code)
	}
	if code, _ := b.login(strings.Repeat("\xff\x00", 100), opPassword); code != http.StatusUnauthorized {
		t.Errorf("a name of bad bytes: %d, want 401", code)
	}
	code, csrf := b.login(opName, opPassword)
	if code != http.StatusSeeOther || csrf == "" {
		t.Fatalf("login: %d", code)
	}
	for _, p := range []string{"/", "/merchants", "/ledger", "/registry", "/audit"} {
		if code, body := b.get(p); code != http.StatusOK || !strings.Contains(body, opName) {
			t.Errorf("GET %s signed in: %d", p, code)
		}
	}
	// The login form itself refuses a post without its token.
	anon := e.browser()
	if code, _ := anon.post("/login", url.Values{"name": {opName}, "password": {opPassword}}); code != http.StatusForbidden {
		t.Errorf("login without the form's token: %d, want 403", code)
	}
	// Signing out ends the session on the server, not only in the browser.
	if code, _ := b.post("/logout", url.Values{"csrf": {csrf}}); code != http.StatusSeeOther {
		t.Errorf("logout: %d", code)
	}
	if code, _ := b.get("/"); code != http.StatusSeeOther {
		t.Errorf("after logout: %d, want a redirect", code)
	}
	entries, err := e.app.Store.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		actions = append(actions, en.Operator+":"+en.Action)
	}
	want := "alice:logout alice:login " + strings.Repeat("??", 32) + ":login.failed nobody:login.failed alice:login.failed cli:operator.add"
	if got := strings.Join(actions, " "); got != want {
		t.Errorf("audit log: %s\nwant %s", got, want)
	}
}

func TestCookiesAndHeaders(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", h)
	}
	for _, ck := range resp.Cookies() {
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
			t.Errorf("cookie %s: HttpOnly %v SameSite %v", ck.Name, ck.HttpOnly, ck.SameSite)
		}
	}
}

func TestLoginRateLimited(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for i := range 5 {
		if code, _ := b.login(opName, "wrong password!"); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d, want 401", i+1, code)
		}
	}
	// The right password is refused too until the bucket refills.
	if code, _ := b.login(opName, opPassword); code != http.StatusTooManyRequests {
		t.Errorf("sixth attempt: %d, want 429", code)
	}
}

func TestCSRFRefused(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	_, csrf := b.login(opName, opPassword)
	for _, token := range []string{"", "forged", csrf + "x"} {
		form := url.Values{"name": {"Forged Shop"}}
		if token != "" {
			form.Set("csrf", token)
		}
		if code, _ := b.post("/merchants", form); code != http.StatusForbidden {
			t.Errorf("create with token %q: %d, want 403", token, code)
		}
	}
	ms, _ := e.app.Merchants.List(context.Background())
	if len(ms) != 0 {
		t.Errorf("a forged post created %d merchants", len(ms))
	}
	// Another operator's token is no good either.
	if err := e.app.Store.CreateOperator(context.Background(), store.Operator{Name: "bob", PasswordHash: mustHash(t), CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	other := e.browser()
	other.login("bob", opPassword)
	if code, _ := other.post("/merchants", url.Values{"name": {"x"}, "csrf": {csrf}}); code != http.StatusForbidden {
		t.Errorf("another session's token: %d, want 403", code)
	}
}

func mustHash(t *testing.T) string {
	h, err := console.HashPassword(opPassword)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var secretRe = regexp.MustCompile(`id="new-app-secret">([0-9a-f]{40})<`)

func TestMerchantsThroughTheConsole(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	_, csrf := b.login(opName, opPassword)
	code, page := b.post("/merchants", url.Values{"csrf": {csrf}, "name": {"Demo 商店"}, "qps": {"5"}, "burst": {"7"}, "free_quota": {"100"}, "expires": {"2031-01-02"}})
	m := secretRe.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		t.Fatalf("create: %d\n%s", code, page)
	}
	secret := m[1]
	ms, _ := e.app.Merchants.List(context.Background())
	if len(ms) != 1 || ms[0].Name != "Demo 商店" || ms[0].QPS != 5 || ms[0].Burst != 7 || ms[0].FreeQuota != 100 ||
		!ms[0].ExpiresAt.Equal(time.Date(2031, 1, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("stored: %+v", ms)
	}
	key := ms[0].AppKey
	for _, p := range []string{"/merchants", "/merchants/" + key, "/audit", "/"} {
		if _, body := b.get(p); strings.Contains(body, secret) {
			t.Errorf("%s shows the app_secret after creation", p)
		}
	}
	if code, _ := b.post("/merchants/"+key, url.Values{"csrf": {csrf}, "status": {"frozen"}}); code != http.StatusOK {
		t.Errorf("freeze: %d", code)
	}
	if got, _ := e.app.Merchants.Get(context.Background(), key); got.Status != store.StatusFrozen || got.QPS != 5 {
		t.Errorf("after freeze: %+v", got)
	}
	code, page = b.post("/merchants/"+key, url.Values{"csrf": {csrf}, "services": {"1"}, "name": {"Renamed"}, "qps": {"2.5"}, "burst": {"3"},
		"free_quota": {"0"}, "expires": {""}, "route": {"registry"}})
	if code != http.StatusOK {
		t.Errorf("settings: %d\n%s", code, page)
	}
	got, _ := e.app.Merchants.Get(context.Background(), key)
	if got.Name != "Renamed" || got.QPS != 2.5 || got.Burst != 3 || got.FreeQuota != 0 || !got.ExpiresAt.IsZero() || got.Route != "registry" || len(got.Services) != 0 {
		t.Errorf("after settings: %+v", got)
	}
	if code, page := b.post("/merchants/"+key, url.Values{"csrf": {csrf}, "qps": {"-1"}}); code != http.StatusBadRequest || !strings.Contains(page, "qps") {
		t.Errorf("bad qps: %d", code)
	}
	before := time.Now().Add(-time.Second)
	if code, _ := b.post("/merchants/"+key, url.Values{"csrf": {csrf}, "expire_now": {"1"}}); code != http.StatusOK {
		t.Errorf("expire now: %d", code)
	}
	if got, _ := e.app.Merchants.Get(context.Background(), key); got.ExpiresAt.Before(before) || got.ExpiresAt.After(time.Now()) {
		t.Errorf("after expire now: expires %v", got.ExpiresAt)
	}
	code, page = b.post("/merchants/"+key+"/rotate", url.Values{"csrf": {csrf}})
	m = secretRe.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil || m[1] == secret {
		t.Errorf("rotate: %d", code)
	}
	entries, _ := e.app.Store.ListAudit(context.Background(), store.AuditFilter{Operator: opName})
	var actions []string
	for _, en := range entries {
		actions = append(actions, en.Action)
		if strings.Contains(en.Detail, secret) || (m != nil && strings.Contains(en.Detail, m[1])) {
			t.Errorf("audit entry holds a secret: %+v", en)
		}
	}
	// The refused qps is not an action.
	want := "merchant.rotate_secret merchant.update merchant.update merchant.update merchant.create login"
	if got := strings.Join(actions, " "); got != want {
		t.Errorf("audit: %s\nwant %s", got, want)
	}
}

func TestLedgerSearchAndExport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c, err := e.app.Merchants.Create(ctx, merchantSettings("Shop"))
	if err != nil {
		t.Fatal(err)
	}
	key := c.Merchant.AppKey
	at := time.Now().UTC().Truncate(time.Second)
	for _, r := range []store.LedgerRow{
		{TraceID: "TIDa", AppKey: key, RequestID: "order-1", Code: "0000", Result: 1, IDName: 1, Photo: 1, Score: 71.5, Charged: true, Time: at, IDMasked: "110105********002X", Latency: 40 * time.Millisecond},
		{TraceID: "TIDb", AppKey: key, RequestID: "=cmd", Code: "1002", Time: at.Add(time.Second), IDMasked: "110105********002X"},
	} {
		if err := e.app.Ledger.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser()
	b.login(opName, opPassword)
	cases := []struct{ query, want, not string }{
		{"trace_id=TIDa", "TIDa", "TIDb"},
		{"request_id=order-1", "TIDa", "TIDb"},
		{"code=1002", "TIDb", "TIDa"},
		{"app_key=" + key + "&day=" + at.Format(time.DateOnly), "TIDb", "no-such"},
		{"day=2001-01-01", "0 calls", "TIDa"},
	}
	for _, c := range cases {
		code, page := b.get("/ledger?" + c.query)
		if code != http.StatusOK || !strings.Contains(page, c.want) || strings.Contains(page, c.not) {
			t.Errorf("ledger?%s: %d, want %s and not %s", c.query, code, c.want, c.not)
		}
	}
	if code, _ := b.get("/ledger?day=yesterday"); code != http.StatusBadRequest {
		t.Errorf("bad day: %d", code)
	}
	// The page's own export link carries the search.
	_, page := b.get("/ledger?trace_id=TIDa")
	link := regexp.MustCompile(`id="export" href="([^"]+)"`).FindStringSubmatch(page)
	if link == nil {
		t.Fatalf("no export link")
	}
	if _, csv := b.get(strings.ReplaceAll(link[1], "&amp;", "&")); strings.Count(csv, "\n") != 2 || !strings.Contains(csv, "TIDa") {
		t.Errorf("export link %s gave:\n%s", link[1], csv)
	}
	code, csv := b.get("/ledger.csv?app_key=" + key)
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if code != http.StatusOK || len(lines) != 3 || !strings.HasPrefix(lines[0], "time,trace_id") ||
		!strings.Contains(lines[1], "TIDb") || !strings.Contains(lines[1], "'=cmd") || !strings.Contains(lines[2], ",71.5,") {
		t.Errorf("csv: %d\n%s", code, csv)
	}
	// The dashboard counts them.
	if _, page := b.get("/"); !strings.Contains(page, "<b>2</b><span>calls") || !strings.Contains(page, "<svg") {
		t.Errorf("dashboard:\n%s", page)
	}
}

func TestRegistryMasksIDNumbers(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	_, csrf := b.login(opName, opPassword)
	const id = "11010519491231002X"
	code, page := b.post("/registry", url.Values{"csrf": {csrf}, "id_number": {id}, "name": {"张三"}})
	if code != http.StatusOK || !strings.Contains(page, "110105********002X stored") {
		t.Fatalf("add: %d\n%s", code, page)
	}
	if strings.Contains(page, id) {
		t.Errorf("the add answer shows the full ID number")
	}
	// The forms of the record carry the number back in hidden fields;
	// nothing else on the page may hold it.
	hidden := `name="id_number" value="` + id + `"`
	for _, q := range []string{id, "110105", strings.ToLower(id)} {
		code, page = b.post("/registry/find", url.Values{"csrf": {csrf}, "id_number": {q}})
		if code != http.StatusOK || !strings.Contains(page, "110105********002X") {
			t.Errorf("search %s: %d", q, code)
		}
		if strings.Contains(strings.ReplaceAll(page, hidden, ""), id) {
			t.Errorf("search %s shows the full ID number unasked", q)
		}
	}
	if _, page = b.post("/registry/find", url.Values{"csrf": {csrf}, "id_number": {id}, "reveal": {"1"}}); !strings.Contains(page, `<code id="full-id">`+id+"</code>") {
		t.Errorf("reveal does not show the number")
	}
	if code, _ = b.post("/registry", url.Values{"csrf": {csrf}, "id_number": {"110105194912310021"}, "name": {"x"}}); code != http.StatusBadRequest {
		t.Errorf("bad checksum: %d", code)
	}
	if code, _ = b.post("/registry/remove", url.Values{"csrf": {csrf}, "id_number": {id}}); code != http.StatusOK {
		t.Errorf("remove: %d", code)
	}
	if code, _ = b.post("/registry/remove", url.Values{"csrf": {csrf}, "id_number": {id}}); code != http.StatusNotFound {
		t.Errorf("remove again: %d", code)
	}
	entries, _ := e.app.Store.ListAudit(context.Background(), store.AuditFilter{Operator: opName})
	for _, en := range entries {
		if strings.Contains(en.Target+en.Detail, id) {
			t.Errorf("audit holds the full ID number: %+v", en)
		}
	}
	code, csv := b.get("/audit.csv")
	if code != http.StatusOK || !strings.Contains(csv, "identity.reveal") || !strings.Contains(csv, "identity.remove") {
		t.Errorf("audit export: %d\n%s", code, csv)
	}
}

// TestRegistryPhotoUpload adds a record with a photo through the form, as
// an operator uploads one, with the real face pipeline.
func TestRegistryPhotoUpload(t *testing.T) {
	photo, err := os.ReadFile(filepath.Join("..", "..", "shared", "faces-dev", "lfw_Aaron_Peirsol", "0001.jpg"))
	if err != nil {
		t.Skipf("../shared/faces-dev not present: %v", err)
	}
	if models.Check(models.DefaultDir()) != nil {
		t.Skip("face models not fetched (portrait models fetch)")
	}
	e := newEnvWith(t, app.Config{Logger: slog.New(slog.DiscardHandler)}) // with the face pipeline
	a, srv, b := e.app, e.srv, e.browser()
	_, csrf := b.login(opName, opPassword)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range map[string]string{"csrf": csrf, "id_number": "11010519491231002X", "name": "Aaron"} {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("photo", "0001.jpg")
	fw.Write(photo)
	mw.Close()
	resp, err := b.c.Post(srv.URL+"/registry", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "template ok") {
		t.Fatalf("upload: %d\n%s", resp.StatusCode, page)
	}
	rec, err := a.Registry.Get(context.Background(), "11010519491231002X")
	if err != nil || rec.TemplateStatus != store.TemplateOK {
		t.Errorf("stored: %+v, %v", rec, err)
	}
}

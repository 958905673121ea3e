package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/models"
	"github.com/portrait-id/portrait/store"
)

// runOps runs one command in process, as main would, and returns its exit
// code, stdout and stderr (where main prints the command's error).
func runOps(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	opsOut, opsErr = &out, &errb
	t.Cleanup(func() { opsOut, opsErr = os.Stdout, os.Stderr })
	cmd, rest, ok := lookup(args)
	if !ok {
		t.Fatalf("no command %q", args)
	}
	if err := cmd.run(context.Background(), rest); err != nil {
		fmt.Fprintf(&errb, "portrait %s: %v\n", cmd.name, err)
		return 1, out.String(), errb.String()
	}
	return 0, out.String(), errb.String()
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := runOps(t, args...)
	if code != 0 {
		t.Fatalf("portrait %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, s)
	}
	return v
}

func cleanEnv(t *testing.T) {
	for _, k := range []string{"PORTRAIT_DB", "PORTRAIT_MASTER_KEY", "PORTRAIT_MASTER_KEY_FILE", "PORTRAIT_ADDR"} {
		t.Setenv(k, "")
	}
}

func TestMerchantCommands(t *testing.T) {
	cleanEnv(t)
	db := filepath.Join(t.TempDir(), "data", "p.db")
	code, out, errs := runOps(t, "merchant", "create", "--db", db, "--create", "--name", "Shop 商店", "--qps", "5", "--free-quota", "100",
		"--expires", "2030-01-02T03:04:05Z", "--json")
	if code != 0 {
		t.Fatalf("create: %d %s", code, errs)
	}
	created := decode[merchantJSON](t, out)
	if !strings.HasPrefix(created.AppKey, "pk_") || len(created.AppSecret) < 32 || created.QPS != 5 || created.FreeQuota != 100 ||
		created.ExpiresAt == nil || !created.ExpiresAt.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) ||
		len(created.Services) != 1 || created.Services[0] != "portrait_verification" {
		t.Errorf("created %+v", created)
	}
	if !strings.Contains(errs, db+".key") {
		t.Errorf("first use did not say where the generated key is: %q", errs)
	}
	key := created.AppKey

	set := decode[merchantJSON](t, mustRun(t, "merchant", "set", "--db", db, key, "--status", "frozen", "--qps", "2.5",
		"--burst", "7", "--free-quota", "0", "--expires", "never", "--revoke", "portrait_verification", "--json"))
	if set.Status != "frozen" || set.QPS != 2.5 || set.Burst != 7 || set.FreeQuota != 0 || set.ExpiresAt != nil ||
		len(set.Services) != 0 || set.Name != "Shop 商店" {
		t.Errorf("after set: %+v", set)
	}
	if set.AppSecret != "" {
		t.Error("set printed the secret")
	}
	shown := decode[merchantJSON](t, mustRun(t, "merchant", "show", key, "--db", db, "--json"))
	if shown.Status != "frozen" || shown.AppSecret != "" {
		t.Errorf("show: %+v", shown)
	}
	// Bad settings are refused at the edge, each with its own message, and
	// leave the merchant readable (issue 12 item 9).
	for _, bad := range []struct{ flag, value, want string }{
		{"--status", "paused", "status"},
		{"--qps", "+Inf", "qps"},
		{"--qps", "NaN", "qps"},
		{"--qps", "-1", "qps"},
		{"--burst", "0", "burst"},
		{"--grant", "face_search", `unknown service "face_search"`},
	} {
		code, _, errs := runOps(t, "merchant", "set", "--db", db, key, bad.flag, bad.value)
		if code == 0 || !strings.Contains(errs, bad.want) {
			t.Errorf("merchant set %s %s: exit %d, %q; want a refusal naming %s", bad.flag, bad.value, code, errs, bad.want)
		}
	}
	if l := decode[[]merchantJSON](t, mustRun(t, "merchant", "list", "--db", db, "--json")); len(l) != 1 || l[0].QPS != 2.5 {
		t.Errorf("after refused settings: %+v", l)
	}
	// The burst follows the rate unless it is given (issue 12 item 12).
	slow := decode[merchantJSON](t, mustRun(t, "merchant", "create", "--db", db, "--name", "Slow", "--qps", "1", "--json"))
	if slow.Burst != 2 {
		t.Errorf("--qps 1 gave burst %d, want 2", slow.Burst)
	}
	if s := decode[merchantJSON](t, mustRun(t, "merchant", "set", "--db", db, slow.AppKey, "--qps", "0.2", "--json")); s.Burst != 1 {
		t.Errorf("--qps 0.2 gave burst %d, want 1", s.Burst)
	}
	if s := decode[merchantJSON](t, mustRun(t, "merchant", "set", "--db", db, slow.AppKey, "--qps", "3", "--burst", "4", "--json")); s.Burst != 4 {
		t.Errorf("--burst 4 gave burst %d", s.Burst)
	}
	if out := mustRun(t, "merchant", "delete", "--db", db, slow.AppKey); !strings.Contains(out, "deleted "+slow.AppKey) {
		t.Errorf("delete: %q", out)
	}
	if code, _, _ := runOps(t, "merchant", "show", "--db", db, slow.AppKey); code == 0 {
		t.Error("a deleted merchant is shown")
	}
	if code, _, _ := runOps(t, "merchant", "delete", "--db", db, slow.AppKey); code == 0 {
		t.Error("a deleted merchant was deleted again")
	}
	if code, _, _ := runOps(t, "merchant", "show", "--db", db, "pk_nobody"); code == 0 {
		t.Error("unknown merchant shown")
	}

	rotated := decode[merchantJSON](t, mustRun(t, "merchant", "rotate-secret", "--db", db, key, "--json"))
	if rotated.AppSecret == "" || rotated.AppSecret == created.AppSecret {
		t.Errorf("rotate: %+v", rotated)
	}
	mustRun(t, "merchant", "create", "--db", db, "--name", "Second")
	list := decode[[]merchantJSON](t, mustRun(t, "merchant", "list", "--db", db, "--json"))
	if len(list) != 2 {
		t.Errorf("list: %+v", list)
	}
	if text := mustRun(t, "merchant", "list", "--db", db); !strings.Contains(text, key) || !strings.Contains(text, "Second") {
		t.Errorf("list text: %s", text)
	}
	// The master key from the environment must match the generated one.
	keyHex, err := os.ReadFile(db + ".key")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PORTRAIT_MASTER_KEY", strings.TrimSpace(string(keyHex)))
	a, err := app.Open(context.Background(), app.Config{DB: db, MasterKey: os.Getenv("PORTRAIT_MASTER_KEY"), Faces: app.FacesNone})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Merchants.Get(context.Background(), key); err != nil {
		t.Error(err)
	}
	// What the command line did is in the console's audit log.
	entries, err := a.Store.ListAudit(context.Background(), store.AuditFilter{Operator: "cli"})
	if err != nil || len(entries) == 0 || entries[len(entries)-1].Action != "merchant.create" || entries[len(entries)-1].Target != key {
		t.Errorf("audit: %+v, %v", entries, err)
	}
}

func TestMerchantSetRoute(t *testing.T) {
	cleanEnv(t)
	db := filepath.Join(t.TempDir(), "p.db")
	created := decode[merchantJSON](t, mustRun(t, "merchant", "create", "--db", db, "--create", "--name", "Shop", "--json"))
	if created.Route != "default" {
		t.Errorf("new merchant's route %q, want default", created.Route)
	}
	for _, step := range []struct {
		route, want string // want "": refused
	}{
		{"upstream", "upstream"},
		{"registry-first", "registry-first"},
		{"both", ""},
		{"", ""},
		{"default", "default"},
		{"registry", "registry"},
	} {
		code, out, errs := runOps(t, "merchant", "set", "--db", db, created.AppKey, "--route", step.route, "--json")
		if step.want == "" {
			if code == 0 {
				t.Errorf("--route %q accepted: %s", step.route, out)
			}
			continue
		}
		if code != 0 {
			t.Fatalf("--route %q: %d %s", step.route, code, errs)
		}
		if got := decode[merchantJSON](t, out).Route; got != step.want {
			t.Errorf("--route %q: route %q, want %q", step.route, got, step.want)
		}
		if shown := decode[merchantJSON](t, mustRun(t, "merchant", "show", created.AppKey, "--db", db, "--json")); shown.Route != step.want {
			t.Errorf("--route %q: stored route %q, want %q", step.route, shown.Route, step.want)
		}
	}
}

func TestIdentityCommandsWithoutPhotos(t *testing.T) {
	cleanEnv(t)
	db := filepath.Join(t.TempDir(), "p.db")
	rec := decode[map[string]any](t, mustRun(t, "identity", "add", "--db", db, "--create", "--id-number", "11010519491231002x", "--name", "张三", "--json"))
	if rec["id_number"] != "11010519491231002X" || rec["template_status"] != "none" {
		t.Errorf("add: %v", rec)
	}
	shown := decode[map[string]any](t, mustRun(t, "identity", "show", "--db", db, "11010519491231002X", "--json"))
	if shown["name"] != "张三" {
		t.Errorf("show: %v", shown)
	}
	if code, _, errs := runOps(t, "identity", "add", "--db", db, "--id-number", "110101199003071234", "--name", "李四"); code == 0 || !strings.Contains(errs, "checksum") {
		t.Errorf("bad ID number: exit %d, %q", code, errs)
	}
	mustRun(t, "identity", "remove", "--db", db, "11010519491231002X")
	if code, _, _ := runOps(t, "identity", "show", "--db", db, "11010519491231002X"); code == 0 {
		t.Error("removed identity still shown")
	}
}

func grayPNG(t *testing.T, path string) {
	img := image.NewGray(image.Rect(0, 0, 200, 200))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	img.Set(0, 0, color.Gray{Y: 0})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestIdentityImport needs the face models: photos are enrolled for real.
func TestIdentityImport(t *testing.T) {
	cleanEnv(t)
	modelsDir := models.DefaultDir()
	if err := models.Check(modelsDir); err != nil {
		t.Skipf("models not fetched: %v", err)
	}
	face, err := os.ReadFile(models.Path(modelsDir, "face-api", "demo/sample1.jpg"))
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	photos := filepath.Join(dir, "photos")
	os.MkdirAll(photos, 0o755)
	os.WriteFile(filepath.Join(photos, "face.jpg"), face, 0o644)
	grayPNG(t, filepath.Join(photos, "gray.png"))
	os.WriteFile(filepath.Join(photos, "junk.jpg"), []byte("not an image"), 0o644)
	csvPath := filepath.Join(dir, "people.csv")
	os.WriteFile(csvPath, []byte("id_number,name,photo\n"+
		"11010519491231002X,张三,face.jpg\n"+
		"110101199003071233,李四,gray.png\n"+
		"440304198501010013,王五,\n"+
		"110101199003071234,赵六,face.jpg\n"+ // bad check digit
		"110101199003076632,钱七,missing.jpg\n"+
		"110101199003076632,钱七,junk.jpg\n"), 0o644)
	db := filepath.Join(dir, "p.db")

	code, out, errs := runOps(t, "identity", "import", csvPath, "--photos", photos, "--db", db, "--create", "--json")
	if code == 0 {
		t.Errorf("an import with rejected rows exited 0")
	}
	sum := decode[importSummary](t, out)
	if sum.Rows != 6 || sum.Added != 3 || sum.Skipped != 0 || sum.NoFace != 1 || len(sum.Rejected) != 3 || len(sum.Warnings) != 1 {
		t.Errorf("first import: %+v (stderr %s)", sum, errs)
	}
	var lines []int
	for _, r := range sum.Rejected {
		lines = append(lines, r.Line)
		if strings.Contains(r.IDNumber, "19900307") {
			t.Errorf("rejected row shows the full ID number: %+v", r)
		}
	}
	if len(lines) != 3 || lines[0] != 5 || lines[1] != 6 || lines[2] != 7 {
		t.Errorf("rejected lines %v, want 5 6 7: %+v", lines, sum.Rejected)
	}
	if sum.Warnings[0].Line != 3 {
		t.Errorf("warning %+v, want line 3", sum.Warnings[0])
	}

	_, out, _ = runOps(t, "identity", "import", csvPath, "--photos", photos, "--db", db, "--json")
	again := decode[importSummary](t, out)
	if again.Added != 0 || again.Skipped != 3 || len(again.Rejected) != 3 {
		t.Errorf("resumed import: %+v, want every stored row skipped", again)
	}
	rec := decode[map[string]any](t, mustRun(t, "identity", "show", "--db", db, "11010519491231002X", "--json"))
	if rec["template_status"] != store.TemplateOK {
		t.Errorf("imported face: %v", rec)
	}
	rec = decode[map[string]any](t, mustRun(t, "identity", "show", "--db", db, "110101199003071233", "--json"))
	if rec["template_status"] != store.TemplateNoFace {
		t.Errorf("imported gray photo: %v", rec)
	}
}

func TestLedgerCommand(t *testing.T) {
	cleanEnv(t)
	db := filepath.Join(t.TempDir(), "p.db")
	key := decode[merchantJSON](t, mustRun(t, "merchant", "create", "--db", db, "--create", "--name", "a", "--json")).AppKey
	st, err := app.OpenStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	d1 := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	rows := []store.LedgerRow{
		{TraceID: "T1", AppKey: key, RequestID: "r1", Code: "0000", Result: 1, Charged: true, Time: d1, IDMasked: "110105********002X", Latency: 2500 * time.Microsecond},
		{TraceID: "T2", AppKey: key, RequestID: "r2", Code: "1002", Time: d1.Add(time.Minute), IDMasked: "110105********002X"},
		{TraceID: "T3", AppKey: key, RequestID: "r3", Code: "0000", Result: 2, Time: d1.AddDate(0, 0, 1), IDMasked: "110105********002X"},
	}
	if _, err := st.AppendLedger(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	st.Close()

	all := decode[ledgerJSON](t, mustRun(t, "ledger", "--db", db, "--app-key", key, "--rows", "--json"))
	if len(all.Usage) != 2 || all.Usage[0].Calls != 2 || all.Usage[0].Charged != 1 || all.Usage[0].ByCode["1002"] != 1 ||
		all.Usage[1].Day != "2026-04-02" || len(all.Rows) != 3 || all.Rows[0].LatencyMS != 2.5 || !all.Rows[0].Charge {
		t.Errorf("ledger: %+v", all)
	}
	day := decode[ledgerJSON](t, mustRun(t, "ledger", "--db", db, "--from", "2026-04-01", "--to", "2026-04-01", "--json"))
	if len(day.Usage) != 1 || day.Usage[0].Day != "2026-04-01" || day.Rows != nil {
		t.Errorf("one day: %+v", day)
	}
	none := decode[ledgerJSON](t, mustRun(t, "ledger", "--db", db, "--app-key", "pk_other", "--json"))
	if none.Usage == nil || len(none.Usage) != 0 {
		t.Errorf("other merchant: %+v", none)
	}
	if text := mustRun(t, "ledger", "--db", db, "--rows"); !strings.Contains(text, "0000:1 1002:1") || !strings.Contains(text, "T3") {
		t.Errorf("text ledger:\n%s", text)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--trace-id", "T2"}, []string{"T2"}},
		{[]string{"--request-id", "r3"}, []string{"T3"}},
		{[]string{"--code", "0000", "--rows"}, []string{"T1", "T3"}},
		{[]string{"--trace-id", "nope"}, nil},
	} {
		got := decode[ledgerJSON](t, mustRun(t, append([]string{"ledger", "--db", db, "--format", "json"}, c.args...)...))
		var traces []string
		for _, r := range got.Rows {
			traces = append(traces, r.TraceID)
		}
		if !slices.Equal(traces, c.want) {
			t.Errorf("ledger %v: rows %v, want %v", c.args, traces, c.want)
		}
	}
	if code, _, errs := runOps(t, "ledger", "--db", db, "--format", "xml"); code == 0 || !strings.Contains(errs, "csv") {
		t.Errorf("--format xml: exit %d, %s", code, errs)
	}
}

func TestServeRefusesWithoutModels(t *testing.T) {
	cleanEnv(t)
	code, _, errs := runOps(t, "serve", "--db", filepath.Join(t.TempDir(), "p.db"), "--models-dir", t.TempDir(), "--addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errs, models.FetchCommand) {
		t.Errorf("serve without models: exit %d, %q; want a refusal naming %q", code, errs, models.FetchCommand)
	}
}

// TestServeFinishesCallsInFlight stops the server while a call runs: the
// call completes and serveOn returns cleanly.
func TestServeFinishesCallsInFlight(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(200 * time.Millisecond)
		io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveOn(ctx, ln, h, discardLog()) }()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel()
	if body := <-got; body != "done" {
		t.Errorf("call in flight got %q, want it finished", body)
	}
	if err := <-served; err != nil {
		t.Errorf("serveOn: %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Error("server still accepting after shutdown")
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestOperatorCommands(t *testing.T) {
	cleanEnv(t)
	db := filepath.Join(t.TempDir(), "p.db")
	withStdin := func(s string) { opsIn = strings.NewReader(s); t.Cleanup(func() { opsIn = os.Stdin }) }
	withStdin("long enough password\n")
	mustRun(t, "operator", "add", "--db", db, "--create", "alice")
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("another long password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "operator", "add", "--db", db, "--password-file", pwFile, "bob")
	withStdin("short\n")
	if code, _, errs := runOps(t, "operator", "add", "--db", db, "carol"); code == 0 || !strings.Contains(errs, "12") {
		t.Errorf("short password: exit %d, %s", code, errs)
	}
	withStdin("long enough password\n")
	if code, _, errs := runOps(t, "operator", "add", "--db", db, "alice"); code == 0 || !strings.Contains(errs, "taken") {
		t.Errorf("duplicate: exit %d, %s", code, errs)
	}
	withStdin("a brand new password\n")
	mustRun(t, "operator", "passwd", "--db", db, "alice")
	mustRun(t, "operator", "remove", "--db", db, "bob")
	if code, _, _ := runOps(t, "operator", "remove", "--db", db, "bob"); code == 0 {
		t.Error("removing an absent operator succeeded")
	}
	list := decode[[]map[string]any](t, mustRun(t, "operator", "list", "--db", db, "--json"))
	if len(list) != 1 || list[0]["name"] != "alice" {
		t.Errorf("list: %v", list)
	}
	st, err := app.OpenStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	op, err := st.GetOperator(context.Background(), "alice")
	if err != nil || !strings.HasPrefix(op.PasswordHash, "$argon2id$") || strings.Contains(op.PasswordHash, "password") {
		t.Errorf("stored: %+v, %v", op, err)
	}
	entries, _ := st.ListAudit(context.Background(), store.AuditFilter{Operator: "cli"})
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action+" "+e.Target)
	}
	if got := strings.Join(actions, ", "); got != "operator.remove bob, operator.passwd alice, operator.add bob, operator.add alice" {
		t.Errorf("audit: %s", got)
	}
}

// TestServeConsole starts `portrait serve --console-addr` and signs in.
func TestServeConsole(t *testing.T) {
	cleanEnv(t)
	if models.Check(models.DefaultDir()) != nil {
		t.Skip("face models not fetched (portrait models fetch)")
	}
	db := createdDB(t, filepath.Join(t.TempDir(), "p.db"))
	opsIn = strings.NewReader("long enough password\n")
	t.Cleanup(func() { opsIn = os.Stdin })
	mustRun(t, "operator", "add", "--db", db, "alice")
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	consoleAddr := free()
	cmd, rest, _ := lookup([]string{"serve", "--db", db, "--addr", free(), "--console-addr", consoleAddr})
	var logs bytes.Buffer
	opsErr = &logs
	t.Cleanup(func() { opsErr = os.Stderr })
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- cmd.run(ctx, rest) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	var body string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + consoleAddr + "/login")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		break
	}
	if !strings.Contains(body, `name="password"`) {
		t.Fatalf("console login page: %q", body)
	}
}

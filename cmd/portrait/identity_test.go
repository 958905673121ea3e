package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/models"
)

// Valid GB 11643 numbers (check digits computed).
var registryIDs = []string{"11010519491231002X", "110101199003071233", "440304198501010013", "110101199003076632", "110105199003071239"}

func TestIdentityAddRefusals(t *testing.T) {
	cleanEnv(t)
	db := createdDB(t, filepath.Join(t.TempDir(), "p.db"))
	big := filepath.Join(t.TempDir(), "big.jpg")
	if f, err := os.Create(big); err != nil || f.Truncate(identity.MaxPhotoBytes+1) != nil || f.Close() != nil {
		t.Fatal("cannot make a sparse photo over the limit")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--name", "张三"}, "--id-number is required"},
		{[]string{"--id-number", registryIDs[0]}, "--name is required"},
		{[]string{"--id-number", " ", "--name", "张三"}, "--id-number is required"},
		{[]string{"--id-number", registryIDs[0], "--name", "张三", "--photo", big}, "over 8 MiB"},
	} {
		code, _, errs := runOps(t, append([]string{"identity", "add", "--db", db}, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("identity add %q: exit %d, %q; want %q", c.args, code, errs, c.want)
		}
	}
}

func writeCSV(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestIdentityImportHeader(t *testing.T) {
	cleanEnv(t)
	db := createdDB(t, filepath.Join(t.TempDir(), "p.db"))
	for _, c := range []struct{ csv, want string }{
		{"idnum,name,photo\n" + registryIDs[0] + ",张三,\n", `unknown column "idnum"`},
		{"id_number,name,name\n" + registryIDs[0] + ",张三,\n", `column "name" named twice`},
		{"id_number,photo\n" + registryIDs[0] + ",a.jpg\n", "no id_number or no name column"},
		{"11010519491231OO2X,张三\n", "column 1 is not a column name"},
	} {
		code, out, errs := runOps(t, "identity", "import", writeCSV(t, c.csv), "--db", db, "--json")
		if code == 0 || !strings.Contains(errs, c.want) || !strings.Contains(errs, "line 1:") || out != "" {
			t.Errorf("import of %q: exit %d, stdout %q, stderr %q; want one error naming %q", c.csv, code, out, errs, c.want)
		}
		if strings.Contains(errs, "19491231") {
			t.Errorf("header error shows an ID number: %q", errs)
		}
	}
	// A header may name the columns in any order; spreadsheets' trailing
	// separators are no columns.
	sum := decode[importSummary](t, mustRun(t, "identity", "import", writeCSV(t, "\ufeffName, ID_Number,,\n张三,"+registryIDs[0]+"\n"), "--db", db, "--json"))
	if sum.Rows != 1 || sum.Added != 1 {
		t.Errorf("reordered header: %+v", sum)
	}
	if rec := decode[identity.Record](t, mustRun(t, "identity", "show", "--db", db, registryIDs[0], "--json")); rec.Name != "张三" {
		t.Errorf("reordered header stored %+v", rec)
	}
}

func TestIdentityImportDuplicates(t *testing.T) {
	cleanEnv(t)
	db := createdDB(t, filepath.Join(t.TempDir(), "p.db"))
	path := writeCSV(t, "id_number,name\n"+
		registryIDs[0]+",张三\n"+
		registryIDs[1]+",李四\n"+
		strings.ToLower(registryIDs[0])+",王五\n"+ // the same number, x in lower case
		registryIDs[1]+",李四\n")
	code, out, _ := runOps(t, "identity", "import", path, "--db", db, "--json")
	sum := decode[importSummary](t, out)
	if code == 0 || sum.Added != 2 || len(sum.Rejected) != 2 {
		t.Fatalf("import with duplicates: exit %d, %+v", code, sum)
	}
	for i, want := range []struct{ line, first int }{{4, 2}, {5, 3}} {
		r := sum.Rejected[i]
		if r.Line != want.line || !strings.Contains(r.Reason, "duplicate of line "+string(rune('0'+want.first))) {
			t.Errorf("rejected %+v, want line %d as a duplicate of line %d", r, want.line, want.first)
		}
	}
	if rec := decode[identity.Record](t, mustRun(t, "identity", "show", "--db", db, registryIDs[0], "--json")); rec.Name != "张三" {
		t.Errorf("the first row must win: %+v", rec)
	}
}

func TestIdentityList(t *testing.T) {
	cleanEnv(t)
	db := createdDB(t, filepath.Join(t.TempDir(), "p.db"))
	for i, id := range registryIDs {
		mustRun(t, "identity", "add", "--db", db, "--id-number", id, "--name", []string{"张三", "李四", "王五", "赵六", "钱七"}[i])
	}
	all := decode[listPage](t, mustRun(t, "identity", "list", "--db", db, "--json"))
	if len(all.Records) != len(registryIDs) || all.NextOffset != nil {
		t.Fatalf("list: %+v", all)
	}
	for _, r := range all.Records {
		if strings.Contains(r.IDNumber, "1990") || strings.Contains(r.IDNumber, "1949") || len([]rune(r.Name)) != 2 || !strings.HasSuffix(r.Name, "*") {
			t.Errorf("listed record not masked: %+v", r)
		}
	}
	page := decode[listPage](t, mustRun(t, "identity", "list", "--db", db, "--json", "--unmask", "--prefix", "110101", "--limit", "1"))
	if len(page.Records) != 1 || page.Records[0].IDNumber != "110101199003071233" || page.Records[0].Name != "李四" ||
		page.NextOffset == nil || *page.NextOffset != 1 {
		t.Errorf("first page of 110101: %+v", page)
	}
	page = decode[listPage](t, mustRun(t, "identity", "list", "--db", db, "--json", "--unmask", "--prefix", "110101", "--limit", "1", "--offset", "1"))
	if len(page.Records) != 1 || page.Records[0].IDNumber != "110101199003076632" || page.NextOffset != nil {
		t.Errorf("second page of 110101: %+v", page)
	}
	text := mustRun(t, "identity", "list", "--db", db, "--limit", "2")
	if !strings.Contains(text, "110101********1233") || !strings.Contains(text, "more: --offset 2") || strings.Contains(text, "李四") {
		t.Errorf("text list:\n%s", text)
	}
	for _, bad := range [][]string{{"--prefix", "11a"}, {"--limit", "0"}, {"--offset", "-1"}} {
		if code, _, _ := runOps(t, append([]string{"identity", "list", "--db", db}, bad...)...); code == 0 {
			t.Errorf("identity list %q accepted", bad)
		}
	}
}

// TestReembedAfterDescriptorChange needs the face models: a registry
// enrolled with one descriptor makes serve refuse another, naming the
// command; reembed moves every record with a kept photo and names the one
// without.
func TestReembedAfterDescriptorChange(t *testing.T) {
	cleanEnv(t)
	modelsDir := models.DefaultDir()
	if err := models.Check(modelsDir); err != nil {
		t.Skipf("models not fetched: %v", err)
	}
	faceJPG, err := os.ReadFile(models.Path(modelsDir, "face-api", "demo/sample1.jpg"))
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "face.jpg"), faceJPG, 0o644)
	grayPNG(t, filepath.Join(dir, "gray.png"))
	db := createdDB(t, filepath.Join(dir, "p.db"))
	const from, to = "faceapi-resnet128", "faceres"
	mustRun(t, "identity", "import", writeCSV(t, "id_number,name,photo\n"+
		registryIDs[0]+",张三,face.jpg\n"+
		registryIDs[1]+",李四,gray.png\n"+
		registryIDs[2]+",王五,\n"), "--photos", dir, "--db", db, "--embedding", from)
	mustRun(t, "identity", "add", "--db", db, "--id-number", registryIDs[3], "--name", "赵六", "--photo", filepath.Join(dir, "face.jpg"),
		"--no-keep-photo", "--embedding", from)

	serve := func() string {
		_, _, errs := runOps(t, "serve", "--db", db, "--embedding", to, "--addr", "127.0.0.1:-1")
		return errs
	}
	if errs := serve(); !strings.Contains(errs, "`portrait identity reembed --embedding "+to+"`") || !strings.Contains(errs, "2 by "+from) {
		t.Fatalf("serve with another descriptor: %q; want a refusal naming the command", errs)
	}
	code, out, errs := runOps(t, "identity", "reembed", "--db", db, "--embedding", to, "--json")
	sum := decode[identity.ReembedSummary](t, out)
	if code == 0 || !strings.Contains(errs, "1 records keep templates of another descriptor") {
		t.Errorf("reembed leaving a record behind: exit %d, %q", code, errs)
	}
	if sum.Model != to || sum.Reembedded != 1 || sum.NoFace != 1 || sum.Current != 0 ||
		len(sum.NotKept) != 1 || sum.NotKept[0] != "110101********6632" {
		t.Errorf("reembed: %+v", sum)
	}
	rec := decode[identity.Record](t, mustRun(t, "identity", "show", "--db", db, registryIDs[0], "--json"))
	if rec.TemplateModel != to || rec.TemplateStatus != "ok" || !rec.PhotoKept {
		t.Errorf("re-embedded record: %+v", rec)
	}
	if errs := serve(); !strings.Contains(errs, "1 by "+from) {
		t.Errorf("serve with a record left behind: %q", errs)
	}
	mustRun(t, "identity", "remove", "--db", db, registryIDs[3])
	again := decode[identity.ReembedSummary](t, mustRun(t, "identity", "reembed", "--db", db, "--embedding", to, "--json"))
	if again.Reembedded != 0 || again.Current != 2 {
		t.Errorf("second reembed: %+v, want both photos current", again)
	}
	if errs := serve(); strings.Contains(errs, "reembed") || !strings.Contains(errs, "listen") {
		t.Errorf("serve after reembed: %q; want it past the check, failing only to listen on the test's bad address", errs)
	}
}

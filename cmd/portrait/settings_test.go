package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A --db that is not a database, or not there, is refused with the path
// named, without a crash and without leaving a key file behind (issue 12
// item 8).
func TestWrongDatabasePath(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	notSQLite := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notSQLite, []byte("not a database, but not empty either"), 0o600); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "prtrait.db")
	for _, tc := range []struct {
		name, db, want string
	}{
		{"a directory", dir, "is a directory"},
		{"a text file", notSQLite, "is not a SQLite file"},
		{"a typo", typo, "no database at this path: " + typo},
	} {
		for _, cmd := range [][]string{{"merchant", "create", "--name", "x"}, {"merchant", "list"}, {"ledger"}} {
			code, out, errs := runOps(t, append(cmd, "--db", tc.db)...)
			if code == 0 || !strings.Contains(errs, tc.want) || !strings.Contains(errs, tc.db) {
				t.Errorf("%s, %s: exit %d, %q %q; want a refusal naming %s", tc.name, strings.Join(cmd, " "), code, out, errs, tc.db)
			}
			if _, err := os.Stat(tc.db + ".key"); err == nil {
				t.Fatalf("%s, %s: left %s.key", tc.name, strings.Join(cmd, " "), tc.db)
			}
		}
	}
	if _, err := os.Stat(typo); err == nil {
		t.Error("a mistyped --db created a database")
	}
	// --create is the operator saying so.
	mustRun(t, "merchant", "create", "--db", typo, "--create", "--name", "x")
	mustRun(t, "merchant", "list", "--db", typo)
}

// The database, its directory and its key are the operator's alone (issue
// 12 item 5), whatever the umask, also in a directory that already exists;
// an existing database readable by others is tightened, and a key file
// readable by others refused.
func TestDataFileModes(t *testing.T) {
	cleanEnv(t)
	existing := t.TempDir()
	os.Chmod(existing, 0o755)
	for _, db := range []string{filepath.Join(existing, "p.db"), filepath.Join(existing, "new", "p.db")} {
		mustRun(t, "merchant", "create", "--db", db, "--create", "--name", "x")
		for _, p := range []string{db, db + ".key", db + "-wal", db + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				continue // -wal and -shm go with the last connection
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %04o, want 0600", p, fi.Mode().Perm())
			}
		}
	}
	if fi, _ := os.Stat(filepath.Join(existing, "new")); fi.Mode().Perm() != 0o700 {
		t.Errorf("new data directory: mode %04o, want 0700", fi.Mode().Perm())
	}
	db := filepath.Join(existing, "p.db")
	os.Chmod(db, 0o644)
	mustRun(t, "merchant", "list", "--db", db)
	if fi, _ := os.Stat(db); fi.Mode().Perm() != 0o600 {
		t.Errorf("a database left 0644 is still %04o", fi.Mode().Perm())
	}
	os.Chmod(db+".key", 0o644)
	code, _, errs := runOps(t, "merchant", "list", "--db", db)
	if code == 0 || !strings.Contains(errs, "readable by others") || !strings.Contains(errs, db+".key") {
		t.Errorf("a key file readable by others: exit %d, %q", code, errs)
	}
}

// Settings that could only fail later are refused at start, one message
// each (issue 12 item 9).
func TestServeRefusesBadSettings(t *testing.T) {
	cleanEnv(t)
	db := filepath.Join(t.TempDir(), "p.db")
	mustRun(t, "merchant", "create", "--db", db, "--create", "--name", "x")
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--identity-timeout", "-1s"}, "", "--identity-timeout -1s: must be above 0"},
		{[]string{"--id-daily-limit", "-5"}, "", "--id-daily-limit -5, --id-daily-global 100: must be 0 (no limit) or more"},
		{nil, strings.Repeat("ab", 32), "master key: it does not open this database's app_secrets"},
		{[]string{"--db", db + ".typo"}, "", "no database at this path"},
	} {
		t.Setenv("PORTRAIT_MASTER_KEY", tc.env)
		args := append([]string{"serve", "--db", db, "--addr", "127.0.0.1:0"}, tc.args...)
		code, _, errs := runOps(t, args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("serve %s: exit %d, %q; want %q", strings.Join(tc.args, " "), code, errs, tc.want)
		}
	}
}

// createdDB makes a new, empty database at path, as an operator would with
// --create, for tests of commands that refuse to make one.
func createdDB(t *testing.T, path string) string {
	t.Helper()
	mustRun(t, "ledger", "--db", path, "--create")
	return path
}

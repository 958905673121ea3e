// Package testkit holds helpers that the tests of several packages share.
// It is for tests only: no non-test code imports it.
package testkit

import (
	"bytes"
	"os"
	"regexp"
	"sync"
	"testing"
)

// SyncBuffer is a bytes.Buffer that several goroutines may write to, such
// as a server's log output read by the test.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var traceIDPattern = regexp.MustCompile(`"trace_id":"TID[0-9a-f]{32}"`)

// MaskTraceID fails the test unless body carries a "TID" + 32 hex trace_id
// field, and returns body with every such field replaced by a fixed one,
// for comparison with a golden file.
func MaskTraceID(t testing.TB, body []byte) []byte {
	t.Helper()
	if !traceIDPattern.Match(body) {
		t.Fatalf("no TID+32 hex trace_id in %s", body)
	}
	return traceIDPattern.ReplaceAll(body, []byte(`"trace_id":"TID00000000000000000000000000000000"`))
}

// Golden compares got with the golden file at path, writing got there
// first when update is set. regenerate is the command that does so, named
// when the file is missing.
func Golden(t testing.TB, path string, got []byte, update bool, regenerate string) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run %s to create it)", err, regenerate)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("answer differs from %s:\n got %s\nwant %s", path, got, want)
	}
}

package safecsv

import (
	"encoding/csv"
	"strings"
	"testing"
)

func TestWriterDefusesFormulas(t *testing.T) {
	cases := []struct{ in, want string }{
		{"order-1", "order-1"},
		{"=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"},
		{"+1", "'+1"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"", ""},
		{"1.5", "1.5"},
	}
	var b strings.Builder
	w := NewWriter(&b)
	for _, c := range cases {
		if err := w.Write([]string{c.in, "k"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if recs[i][0] != c.want || recs[i][1] != "k" {
			t.Errorf("%q wrote %q, want %q", c.in, recs[i], c.want)
		}
	}
}

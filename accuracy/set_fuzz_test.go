package accuracy

import (
	"strings"
	"testing"
)

// FuzzParseTSV: any label file either parses into rows with every named
// column present, or fails with an error; it never panics.
func FuzzParseTSV(f *testing.F) {
	f.Add("a\tb\tsame\nx/1.jpg\ty/1.jpg\t0\n")
	f.Add("identity\tgroup\nx\teast_asian\r\n\n")
	f.Add("a\tb\n1\n")
	f.Fuzz(func(t *testing.T, in string) {
		_ = parseTSV(strings.NewReader(in), "fuzz.tsv", []string{"a", "b"}, func(cols map[string]int, fields []string, _ int) error {
			if cols["a"] >= len(fields) || cols["b"] >= len(fields) {
				t.Fatalf("row %q lacks a named column %v", fields, cols)
			}
			return nil
		})
	})
}

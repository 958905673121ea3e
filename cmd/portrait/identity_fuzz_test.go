package main

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseImportCSV: any bytes an operator's CSV may hold parse or fail
// cleanly, and every row parsed keeps its line number and trimmed columns.
func FuzzParseImportCSV(f *testing.F) {
	for _, s := range []string{
		"id_number,name,photo\n11010519491231002X,张三,a.jpg\n",
		"\ufeffid_number,name\n110101199003071233,李四\n",
		"11010519491231002X,\"买买提·艾力\",\"dir/with, comma.jpg\"\n\n110101199003071233\n",
		"a,\"b\nc\",d\r\ne,f\n",
		"\"unterminated\n",
		"Name,PHOTO, id_number,,\n张三,a.jpg,11010519491231002X\n",
		"idnum,name\n1,2\n",
		"id_number,name,name\n",
		"11010519491231002X,张三\n11010519491231002x,李四\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rows, err := parseImportCSV(strings.NewReader(s))
		if err != nil {
			return
		}
		prev := 0
		for _, r := range rows {
			if r.line < 1 || r.line < prev {
				t.Fatalf("row line %d after %d", r.line, prev)
			}
			prev = r.line
			if r.photo != strings.TrimSpace(r.photo) || strings.HasPrefix(r.id, "\ufeff") {
				t.Fatalf("untrimmed row %+v", r)
			}
			if utf8.ValidString(s) && (!utf8.ValidString(r.id) || !utf8.ValidString(r.name)) {
				t.Fatalf("valid input gave invalid UTF-8 row %+v", r)
			}
		}
	})
}

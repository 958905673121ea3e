package calibration

import (
	"encoding/json"
	"math"
	"testing"
)

// FuzzParse: any bytes either fail to parse or give a table whose mapping is
// monotonic and within 0..100.
func FuzzParse(f *testing.F) {
	for _, m := range Models() {
		raw, err := tables.ReadFile(FileName(m))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	seed, _ := json.Marshal(table())
	f.Add(seed)
	f.Fuzz(func(t *testing.T, raw []byte) {
		tb, err := Parse(raw)
		if err != nil {
			return
		}
		prev := math.Inf(-1)
		for i := 0; i <= 100; i++ {
			s := tb.Score(-1.5 + 3*float64(i)/100)
			if s < prev || s < 0 || s > 100 {
				t.Fatalf("score %v after %v at step %d", s, prev, i)
			}
			prev = s
		}
	})
}

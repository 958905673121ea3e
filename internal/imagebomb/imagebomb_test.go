package imagebomb

import (
	"bytes"
	"compress/zlib"
	"io"
	"testing"
)

// TestZeros: the stream built from repeated chunks inflates, checksum
// included, to exactly n zeros, for sizes around the chunk boundaries.
func TestZeros(t *testing.T) {
	const chunk = 1 << 18
	for _, n := range []int{1, chunk - 1, chunk, chunk + 1, 2 * chunk, 3*chunk + 7, 10 * chunk} {
		r, err := zlib.NewReader(bytes.NewReader(zeros(n)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(got) != n || bytes.Count(got, []byte{0}) != n {
			t.Fatalf("n=%d: inflated %d bytes, %d of them zero", n, len(got), bytes.Count(got, []byte{0}))
		}
	}
}

package e2e

import (
	"strings"
	"testing"

	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/internal/imagebomb"
)

// TestBombs sends the files that cost a decoder far more than their size
// (issue 12, items 1 and 2) as validly signed selfies, as selfie_base64 and
// as selfie_file, to the live service: the costly ones are refused with
// 1002 naming the limit, the ones within the limits decode to the usual
// answer for a selfie without a face, none is charged, and the ordinary
// call after each is answered as usual, so no refusal leaves a pipeline
// slot or body budget behind.
func TestBombs(t *testing.T) {
	w := getWorld(t)
	const refused = "请求参数错误: selfie "
	bombs := []struct {
		name string
		file []byte
		msg  string // the whole msg of a 1002; "" for a file within the limits
	}{
		// 40,000 scans, 1.4 MB, was over 5 minutes of CPU a call (~8 ms a
		// scan) before scans were limited.
		{"progressive 40000 scans", imagebomb.ProgressiveScans(4096, 4096, 40000, true),
			refused + "JPEG too costly to decode: more than 64 scans"},
		{"progressive 1000 scans", imagebomb.ProgressiveScans(4096, 4096, 1000, false),
			refused + "JPEG too costly to decode: more than 64 scans"},
		{"baseline rescan", imagebomb.SequentialScans(4096, 4096, 2),
			refused + "JPEG too costly to decode: a component coded in two sequential scans"},
		{"16-bit PNG", imagebomb.PNG16(4096, 4096),
			refused + "PNG 4096×4096 takes 8 bytes a pixel to decode, 128 MiB, more than 64 MiB: send an 8-bit JPG or PNG"},
		{"16-bit TIFF", imagebomb.TIFF16(4096, 4096),
			refused + "TIFF 4096×4096 takes 24 bytes a pixel to decode, 384 MiB, more than 64 MiB: send an 8-bit JPG or PNG"},
		{"TIFF in 65536 tiles", imagebomb.TIFFTiles(4096, 4096),
			refused + "TIFF in 65536 strips or tiles, more than 4096"},
		// Within the limits: the most scans allowed, a Huffman table
		// redefined 40,000 times (1.5 MB), a colour progressive image
		// too large to hold at full size, and frames after the first,
		// which are never decoded.
		{"progressive 64 scans", imagebomb.ProgressiveScans(512, 512, 64, true), ""},
		{"Huffman tables", imagebomb.HuffmanTables(40000), ""},
		{"progressive colour 4096", imagebomb.ProgressiveColour(4096, 4096), ""},
		{"GIF frames", imagebomb.GIFFrames(512, 512, 1500), ""},
		{"TIFF in 4096 tiles", imagebomb.TIFFTiles(1024, 1024), ""},
	}
	// Sizes are such that each file, base64 and percent-encoded, fits a
	// form body of 3 MB.
	for _, b := range bombs {
		for _, multipart := range []bool{false, true} {
			field := "selfie_base64"
			if multipart {
				field = "selfie_file"
			}
			t.Run(b.name+"/"+field, func(t *testing.T) {
				req := client.Request{IDNumber: idWithPhoto, Name: nameWithPhoto, Selfie: b.file, UseMultipart: multipart}
				r := sdk(mainM, req)(t, w)
				switch {
				case b.msg != "" && (r.Code != client.CodeParameter || r.Msg != b.msg):
					t.Errorf("%d-byte file answered %s, want 1002 %q", len(b.file), r.Raw, b.msg)
				case b.msg == "" && (r.Code != client.CodeOK || r.Data.Result != client.ResultBadQuality):
					t.Errorf("%d-byte file answered %s, want 0000 with result 2", len(b.file), r.Raw)
				}
				if r.Charged() {
					t.Errorf("charged: %s", r.Raw)
				}
				checkUncharged(t, w, r.TraceID)
				after := noFaceCall(mainM)(t, w)
				if after.Code != client.CodeOK || after.Data.Result != client.ResultBadQuality {
					t.Errorf("the ordinary call after it answered %s", after.Raw)
				}
			})
		}
	}
}

// checkUncharged asserts that the call's ledger row says what it answered:
// one row, not charged.
func checkUncharged(t *testing.T, w *world, traceID string) {
	t.Helper()
	var found []string
	for _, row := range w.ledgerRows(t, w.main.appKey) {
		if row.TraceID == traceID {
			found = append(found, row.Code)
			if row.Charged {
				t.Errorf("ledger row %+v charged", row)
			}
		}
	}
	if len(found) != 1 {
		t.Errorf("%d ledger rows (%s) for trace_id %s, want 1", len(found), strings.Join(found, ", "), traceID)
	}
}

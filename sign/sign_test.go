package sign

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The want values were computed outside Go, with
// printf '%s' "<concatenation>" | md5sum, over the UTF-8 bytes.
func TestCompute(t *testing.T) {
	tests := []struct {
		name                                        string
		appKey, idNumber, person, reqID, ts, secret string
		want                                        string
	}{
		{"han name", "K1", "110101199003077513", "张三", "R1", "1732668400000", "S", "af68161bf2773b4881fd142acaa33df2"},
		{"minority name with middle dot", "K1", "650102198001010012", "买买提·艾力", "R2", "1732668400000", "S", "cf72a1ca4a7e4ff31436915d3c36ba9d"},
		{"ascii", "a", "", "b", "", "c", "", "900150983cd24fb0d6963f7d28e17f72"},
		{"empty", "", "", "", "", "", "", "d41d8cd98f00b204e9800998ecf8427e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compute(tt.appKey, tt.idNumber, tt.person, tt.reqID, tt.ts, tt.secret)
			if got != tt.want {
				t.Errorf("Compute = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	const want = "af68161bf2773b4881fd142acaa33df2"
	tests := []struct {
		got  string
		same bool
	}{
		{want, true},
		{strings.ToUpper(want), true},
		{"af68161bf2773b4881fd142acaa33df3", false},
		{want[:30], false},
		{want + "00", false},
		{"", false},
		{"zz68161bf2773b4881fd142acaa33df2", false},
	}
	for _, tt := range tests {
		if got := Equal(want, tt.got); got != tt.same {
			t.Errorf("Equal(%q) = %v, want %v", tt.got, got, tt.same)
		}
	}
}

func TestCheckTimestamp(t *testing.T) {
	now := time.UnixMilli(1732668400000)
	tests := []struct {
		ts   string
		want error
	}{
		{"1732668400000", nil},
		{"1732668100000", nil},        // 5 minutes behind: the window's edge is inside
		{"1732668700000", nil},        // 5 minutes ahead
		{"1732668099999", ErrExpired}, // just past the window
		{"1732668700001", ErrExpired}, // just ahead of it
		{"1732668400", ErrExpired},    // seconds, not milliseconds
		{"0", ErrExpired},
		{"", ErrTimestampFormat},
		{"-1732668400000", ErrTimestampFormat},
		{"+1732668400000", ErrTimestampFormat},
		{"1732668400000.5", ErrTimestampFormat},
		{" 1732668400000", ErrTimestampFormat},
		{"99999999999999999999", ErrTimestampFormat}, // overflows int64
		{"9223372036854775807", ErrExpired},
		// A leading zero would let a request_id's trailing "0" move into
		// the timestamp with the signed bytes unchanged (issue 12).
		{"01732668400000", ErrTimestampFormat},
		{"00", ErrTimestampFormat},
		{strings.Repeat("1", 3<<20), ErrTimestampFormat},
	}
	for _, tt := range tests {
		err := CheckTimestamp(tt.ts, now, DefaultWindow)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("CheckTimestamp(%q) = %v, want %v", tt.ts, err, tt.want)
		}
	}
}

func TestCanonical(t *testing.T) {
	const lower = "af68161bf2773b4881fd142acaa33df2"
	tests := []struct{ in, want string }{
		{lower, lower},
		{strings.ToUpper(lower), lower},
		{"Af68161bf2773b4881fd142acaa33dF2", lower},
		{lower[:31], ""},
		{lower + "0", ""},
		{"zz68161bf2773b4881fd142acaa33df2", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Canonical(tt.in); got != tt.want {
			t.Errorf("Canonical(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if WellFormed(tt.in) != (tt.want != "") {
			t.Errorf("WellFormed(%q) = %v", tt.in, !(tt.want != ""))
		}
	}
}

// The error of a malformed timestamp must not carry the timestamp: it is
// logged, and the caller chooses its size.
func TestCheckTimestampErrorBounded(t *testing.T) {
	err := CheckTimestamp(strings.Repeat("9", 1<<20)+"x", time.Now(), DefaultWindow)
	if len(err.Error()) > 100 {
		t.Errorf("error of %d bytes", len(err.Error()))
	}
}

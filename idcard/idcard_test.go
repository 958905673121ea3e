package idcard

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Valid numbers below had their check character computed outside Go (Python,
// from the GB 11643 weights), so the test does not trust the code it checks.
var now = time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)

func TestValidateID(t *testing.T) {
	tests := []struct {
		in, want, rule string
	}{
		{"110101199003077512", "110101199003077512", ""},
		{"650102198001010012", "650102198001010012", ""},
		{"110105200002291235", "110105200002291235", ""}, // 29 Feb of a leap year
		{"110101190001010006", "110101190001010006", ""}, // the oldest accepted date
		{"31011519851010001X", "31011519851010001X", ""},
		{"31011519851010001x", "31011519851010001X", ""}, // lowercase x normalised
		{"110101199003077513", "", "id_number checksum"},
		{"31011519851010001Y", "", "id_number format"},
		{"1101011990030775", "", "id_number length"},
		{"1101011990030775122", "", "id_number length"},
		{"", "", "id_number length"},
		{"11010119900307751２", "", "id_number length"}, // full-width digit is 3 bytes
		{"11010A199003077512", "", "id_number format"},
		{"010101199003077512", "", "id_number region"},
		{"110101199002300000", "", "id_number birth date"}, // 30 Feb
		{"110101190002290000", "", "id_number birth date"}, // 1900 was not a leap year
		{"110101189912310000", "", "id_number birth date"}, // before 1900
		{"110101199013010000", "", "id_number birth date"}, // month 13
		{"110101199000010000", "", "id_number birth date"}, // month 0
		{"110101199001000000", "", "id_number birth date"}, // day 0
		{"110101202611280000", "", "id_number birth date"}, // tomorrow in China
		{"110101202611270000", "", "id_number checksum"},   // today in China (09:00 there) is a date
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ValidateID(tt.in, now)
			if tt.rule == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ValidateID = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var re *RuleError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &re) || re.Rule != tt.rule {
				t.Fatalf("ValidateID error = %v, want rule %q wrapping ErrInvalid", err, tt.rule)
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		in, rule string
	}{
		{"张三", ""},
		{"买买提·艾力", ""},
		{"阿依古丽•买买提", ""},   // U+2022 bullet, from some input methods
		{"爱新觉罗・溥仪", ""},    // U+30FB katakana middle dot
		{"JOHN SMITH", ""}, // foreign permanent resident
		{"王", ""},
		{strings.Repeat("王", 64), ""},
		{strings.Repeat("王", 65), "name length"},
		{"", "name empty"},
		{" 张三", "name leading or trailing space"},
		{"张三 ", "name leading or trailing space"},
		{"张三\u3000", "name leading or trailing space"}, // ideographic space
		{"张\n三", "name control character"},
		{"张\x00三", "name control character"},
		{"张\u200b三", "name control character"}, // zero-width space
		{"张\u2028三", "name control character"},
		{"\xd5\xc5\xc8\xfd", "name encoding"}, // 张三 in GBK
		{"张\ufffd", "name encoding"},
		{"·艾力", "name middle dot"},
		{"买买提·", "name middle dot"},
		{"买买提··艾力", "name middle dot"},
		{"·", "name middle dot"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := ValidateName(tt.in)
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("ValidateName = %v, want nil", err)
				}
				return
			}
			var re *RuleError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &re) || re.Rule != tt.rule {
				t.Fatalf("ValidateName error = %v, want rule %q", err, tt.rule)
			}
		})
	}
}

func TestMask(t *testing.T) {
	ids := []struct{ in, want string }{
		{"110101199003077512", "110101********7512"},
		{"31011519851010001X", "310115********001X"},
		{"1234567890", "**********"},
		{"", ""},
	}
	for _, tt := range ids {
		if got := MaskID(tt.in); got != tt.want {
			t.Errorf("MaskID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	names := []struct{ in, want string }{
		{"张三", "张*"},
		{"买买提·艾力", "买*"},
		{"王", "王*"},
		{"", ""},
	}
	for _, tt := range names {
		if got := MaskName(tt.in); got != tt.want {
			t.Errorf("MaskName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"110101199003077512", "31011519851010001x", "110105200002291235", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ValidateID(s, now)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if len(got) != 18 || got != strings.ToUpper(s) {
			t.Fatalf("ValidateID(%q) = %q: not the input normalised", s, got)
		}
		if again, err := ValidateID(got, now); err != nil || again != got {
			t.Fatalf("normalised %q does not validate again: %v", got, err)
		}
		if m := MaskID(got); len(m) != 18 || m[6:14] != "********" {
			t.Fatalf("MaskID(%q) = %q", got, m)
		}
	})
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"张三", "买买提·艾力", "JOHN SMITH", "", " ", "\xd5\xc5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateName(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if n := utf8.RuneCountInString(s); !utf8.ValidString(s) || n < 1 || n > MaxNameRunes {
			t.Fatalf("accepted %q (%d runes)", s, n)
		}
		if m := MaskName(s); utf8.RuneCountInString(m) != 2 {
			t.Fatalf("MaskName(%q) = %q", s, m)
		}
	})
}

// Spellings of one name that people and input methods produce all come out
// as one form (issue 12 item 6); different names stay different.
func TestNormalizeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"买买提·艾力", "买买提·艾力"},
		{"买买提•艾力", "买买提·艾力"},   // U+2022
		{"买买提・艾力", "买买提·艾力"},   // U+30FB
		{"买买提･艾力", "买买提·艾力"},   // U+FF65
		{"买买提‧艾力", "买买提·艾力"},   // U+2027
		{"买买提 · 艾力", "买买提·艾力"}, // spaces beside the dot
		{"买买提\u0387艾力", "买买提·艾力"},
		{"  张三\u3000", "张三"},
		{"John  Smith", "JOHN SMITH"},
		{"ＪＯＨＮ　ＳＭＩＴＨ", "JOHN SMITH"}, // full-width letters, ideographic space
		{"Jose\u0301", "JOSÉ"},       // NFD
		{"José", "JOSÉ"},
		{"王\u00a0小明", "王 小明"},
		// Different names stay different.
		{"張三", "張三"},
		{"张叁", "张叁"},
	}
	for _, tt := range tests {
		if got := NormalizeName(tt.in); got != tt.want {
			t.Errorf("NormalizeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if NormalizeName("张三") == NormalizeName("張三") {
		t.Error("simplified and traditional forms were made one name")
	}
}

// NormalizeName is idempotent and keeps a name within the validator's
// reach: what it makes of a valid name is valid.
func FuzzNormalizeName(f *testing.F) {
	for _, s := range []string{"买买提•艾力", "ＪＯＨＮ　ＳＭＩＴＨ", "Jose\u0301", " · ", "\xd5\xc5", "ﾊﾟ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeName(s)
		if again := NormalizeName(n); again != n {
			t.Fatalf("NormalizeName(%q) = %q, then %q", s, n, again)
		}
		if ValidateName(s) == nil && utf8.RuneCountInString(n) <= MaxNameRunes {
			if err := ValidateName(n); err != nil {
				t.Fatalf("valid %q normalised to invalid %q: %v", s, n, err)
			}
		}
	})
}

// Package idcard holds the rules a Chinese resident ID number (GB 11643-1999)
// and a holder's name must follow before anyone looks them up, and how both
// are masked in logs.
package idcard

import (
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"
)

// ErrInvalid is an ID number or name that breaks one of the rules. Every
// error of this package wraps it in a *RuleError naming the rule.
var ErrInvalid = errors.New("invalid ID number or name")

// RuleError names the rule an ID number or name failed, e.g.
// "id_number checksum", in words a merchant's developer can act on.
type RuleError struct {
	Rule string
}

func (e *RuleError) Error() string { return e.Rule }

// Unwrap lets errors.Is(err, ErrInvalid) hold for every rule.
func (e *RuleError) Unwrap() error { return ErrInvalid }

func broken(rule string) error { return &RuleError{Rule: rule} }

// IDLength is the length of an ID number, in bytes (all ASCII).
const IDLength = idLength

// Lengths of the parts of an 18-character ID number.
const (
	idLength   = 18
	birthStart = 6
	birthEnd   = 14
)

var (
	checkWeights = [idLength - 1]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	checkChars   = "10X98765432"

	// Birth dates are dates in China, whatever the server's zone; a fixed
	// offset avoids depending on the tz database being installed.
	chinaTime   = time.FixedZone("CST", 8*60*60)
	oldestBirth = time.Date(1900, 1, 1, 0, 0, 0, 0, chinaTime)
)

// ValidateID checks s as an 18-character GB 11643-1999 ID number: 17 digits
// with a region code not starting with 0, a real birth date between 1900 and
// today (in China) at positions 7–14, and the check character. It returns the
// number normalised (a lowercase x check character becomes X). Region tables
// are deliberately not checked: codes change over time and old numbers stay
// valid.
func ValidateID(s string, now time.Time) (string, error) {
	if len(s) != idLength {
		return "", broken("id_number length")
	}
	for i := 0; i < idLength-1; i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", broken("id_number format")
		}
	}
	check := s[idLength-1]
	if check == 'x' {
		check = 'X'
	}
	if (check < '0' || check > '9') && check != 'X' {
		return "", broken("id_number format")
	}
	if s[0] == '0' {
		return "", broken("id_number region")
	}
	if !validBirth(s[birthStart:birthEnd], now) {
		return "", broken("id_number birth date")
	}
	sum := 0
	for i, w := range checkWeights {
		sum += int(s[i]-'0') * w
	}
	if checkChars[sum%11] != check {
		return "", broken("id_number checksum")
	}
	return s[:idLength-1] + string(check), nil
}

// validBirth reports whether yyyymmdd (8 ASCII digits) is a calendar date
// from 1900-01-01 to today in China.
func validBirth(yyyymmdd string, now time.Time) bool {
	n := func(s string) int {
		v := 0
		for i := 0; i < len(s); i++ {
			v = v*10 + int(s[i]-'0')
		}
		return v
	}
	y, m, d := n(yyyymmdd[:4]), n(yyyymmdd[4:6]), n(yyyymmdd[6:8])
	born := time.Date(y, time.Month(m), d, 0, 0, 0, 0, chinaTime)
	// time.Date normalises 0230 to 0302; a round trip catches impossible dates.
	if born.Year() != y || int(born.Month()) != m || born.Day() != d {
		return false
	}
	ty, tm, td := now.In(chinaTime).Date()
	today := time.Date(ty, tm, td, 0, 0, 0, 0, chinaTime)
	return !born.Before(oldestBirth) && !born.After(today)
}

// MaxNameRunes is the longest name accepted, in characters.
const MaxNameRunes = 64

// ValidateName checks a holder's name: valid UTF-8, 1–64 characters, no
// control, format or line-separator characters, no leading or trailing space,
// and separator dots (the middle dot of minority and foreign names) only
// between other characters. Beyond that any script is accepted: names of
// foreign permanent residents are in Latin letters with inner spaces.
//
// Any of the middle-dot variants NormalizeName knows counts as the dot.
// Names are validated in their normalised form, which is the one stored and
// compared.
func ValidateName(s string) error {
	if s == "" {
		return broken("name empty")
	}
	if !utf8.ValidString(s) {
		return broken("name encoding")
	}
	if utf8.RuneCountInString(s) > MaxNameRunes {
		return broken("name length")
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return broken("name leading or trailing space")
	}
	prevDot := true // a dot may not open the name
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			// Only reachable as a literal U+FFFD: a name mangled by a bad
			// conversion somewhere upstream.
			return broken("name encoding")
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r),
			unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r):
			return broken("name control character")
		case middleDots[r]:
			if prevDot {
				return broken("name middle dot")
			}
			prevDot = true
			continue
		}
		prevDot = false
	}
	if prevDot {
		return broken("name middle dot")
	}
	return nil
}

// middleDots are the characters people and input methods type for the
// separator dot of minority and foreign names; NormalizeName makes each the
// standard U+00B7. (U+0387 needs no entry: NFC makes it U+00B7.)
var middleDots = map[rune]bool{
	'\u00B7': true, // · middle dot, the standard
	'\u2022': true, // • bullet
	'\u30FB': true, // ・ katakana middle dot
	'\uFF65': true, // ･ halfwidth katakana middle dot
	'\u2027': true, // ‧ hyphenation point
	'\u2219': true, // ∙ bullet operator
	'\u22C5': true, // ⋅ dot operator
}

// NormalizeName is the one form of a name that is stored and compared, so
// that spellings a person would call the same name match: Unicode NFC,
// full-width Latin letters and digits folded to ASCII (and half-width
// katakana widened), every middle-dot variant the standard U+00B7 with no
// space beside it, each run of white space one ASCII space, none at either
// end, and Latin letters in upper case (the form foreigners' ID cards
// print). Han characters are left as they are: traditional and simplified
// forms are different names on an ID card.
func NormalizeName(s string) string {
	s = norm.NFC.String(width.Fold.String(s))
	var b strings.Builder
	b.Grow(len(s))
	space, dot := false, false // a space is pending; the last rune written is a dot
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0 && !dot
			continue
		case middleDots[r]:
			b.WriteRune('\u00B7')
			space, dot = false, true
			continue
		case unicode.Is(unicode.Latin, r):
			r = unicode.ToUpper(r)
		}
		if space {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
		space, dot = false, false
	}
	// Width folding and case may have made a composable pair.
	return norm.NFC.String(b.String())
}

// MaskID keeps the first 6 and last 4 characters of an ID number for logs
// (region and check part, which identify no one) and stars the rest. Anything
// too short to mask that way is starred entirely.
func MaskID(s string) string {
	r := []rune(s)
	if len(r) <= 10 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:6]) + strings.Repeat("*", len(r)-10) + string(r[len(r)-4:])
}

// MaskName keeps a name's first character for logs and replaces the rest
// with a single star, so that the log does not even reveal the name's length.
func MaskName(s string) string {
	if s == "" {
		return ""
	}
	r, _ := utf8.DecodeRuneInString(s)
	return string(r) + "*"
}

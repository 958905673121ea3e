// Package sign computes and checks the document's request signature and
// timestamp window; the server and the merchants' SDK share it so that both
// sides sign exactly the same bytes.
package sign

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultWindow is how far a request's timestamp may lie from the server's
// clock, either way, before the call is refused as expired.
const DefaultWindow = 5 * time.Minute

var (
	// ErrSignature is a sign parameter that does not match the request.
	ErrSignature = errors.New("signature mismatch")
	// ErrTimestampFormat is a timestamp that is not milliseconds since the epoch.
	ErrTimestampFormat = errors.New("timestamp format")
	// ErrExpired is a timestamp outside the allowed window.
	ErrExpired = errors.New("request expired")
)

// Compute returns the document's signature: the lowercase hex MD5 of
// app_key + id_number + name + request_id + timestamp + app_secret, taken over
// the UTF-8 bytes exactly as sent (Go strings already hold those bytes).
func Compute(appKey, idNumber, name, requestID, timestamp, secret string) string {
	return Over(secret, appKey, idNumber, name, requestID, timestamp)
}

// Over returns the document's kind of signature over any API's signed
// parameters: the lowercase hex MD5 of their values, in signing order, then
// the app_secret.
func Over(secret string, values ...string) string {
	h := md5.New()
	for _, s := range values {
		h.Write([]byte(s))
	}
	h.Write([]byte(secret))
	return hex.EncodeToString(h.Sum(nil))
}

// Equal reports whether got is the signature want, comparing in constant time
// so that a caller cannot learn the expected signature byte by byte. Hex case
// is ignored because some clients print uppercase digests.
func Equal(want, got string) bool {
	w, errW := hex.DecodeString(want)
	g, errG := hex.DecodeString(got)
	if errW != nil || errG != nil || len(w) != md5.Size {
		return false
	}
	return subtle.ConstantTimeCompare(w, g) == 1
}

// WellFormed reports whether s has the shape of a signature: 32 hex digits,
// either case.
func WellFormed(s string) bool {
	if len(s) != 2*md5.Size {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Canonical returns the signature s names, in the lowercase form Compute
// prints, or "" when s is not WellFormed. Equal ignores case, so anything
// that remembers signatures must remember this form: otherwise changing the
// case of a captured sign would make it a new one.
func Canonical(s string) string {
	if !WellFormed(s) {
		return ""
	}
	return strings.ToLower(s)
}

// CanonicalTimestamp reports whether ts is a decimal number written the one
// way strconv.FormatInt writes it: digits only, no sign, no leading zero, at
// most 19 digits. The signature hashes the fields with no delimiter, so a
// timestamp that accepted a leading zero would let the last "0" of a
// request_id move into it without changing the signed bytes.
func CanonicalTimestamp(ts string) bool {
	if ts == "" || len(ts) > 19 || (ts[0] == '0' && len(ts) > 1) {
		return false
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return false
		}
	}
	_, err := strconv.ParseInt(ts, 10, 64)
	return err == nil
}

// CheckTimestamp checks that ts is a CanonicalTimestamp of milliseconds since
// the epoch within window of now. The error wraps ErrTimestampFormat or
// ErrExpired.
func CheckTimestamp(ts string, now time.Time, window time.Duration) error {
	if !CanonicalTimestamp(ts) {
		// Not quoted: it is the caller's and of any length.
		return fmt.Errorf("timestamp of %d bytes: %w", len(ts), ErrTimestampFormat)
	}
	ms, _ := strconv.ParseInt(ts, 10, 64)
	skew := now.Sub(time.UnixMilli(ms))
	if skew > window || skew < -window {
		return fmt.Errorf("timestamp off by %s (window %s): %w", skew.Round(time.Millisecond), window, ErrExpired)
	}
	return nil
}

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
	h := md5.New()
	for _, s := range [...]string{appKey, idNumber, name, requestID, timestamp, secret} {
		h.Write([]byte(s))
	}
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

// CheckTimestamp checks that ts is milliseconds since the epoch within window
// of now. The error wraps ErrTimestampFormat or ErrExpired.
func CheckTimestamp(ts string, now time.Time, window time.Duration) error {
	if ts == "" || len(ts) > 19 {
		return fmt.Errorf("timestamp %q: %w", ts, ErrTimestampFormat)
	}
	for i := 0; i < len(ts); i++ {
		// Digits only: ParseInt would also take a sign, which no client sends.
		if ts[i] < '0' || ts[i] > '9' {
			return fmt.Errorf("timestamp %q: %w", ts, ErrTimestampFormat)
		}
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q: %w", ts, ErrTimestampFormat)
	}
	skew := now.Sub(time.UnixMilli(ms))
	if skew > window || skew < -window {
		return fmt.Errorf("timestamp off by %s (window %s): %w", skew.Round(time.Millisecond), window, ErrExpired)
	}
	return nil
}

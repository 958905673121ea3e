package console

import (
	"strings"
	"testing"
)

// FuzzCheckHash feeds stored hashes as a tampered or corrupt database row
// could hold them: a check never panics, stays within the parameter bounds,
// and never accepts a hash that was not made from the password.
func FuzzCheckHash(f *testing.F) {
	good, err := HashPassword("correct horse battery")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "correct horse battery")
	f.Add(good, "wrong")
	f.Add("$argon2id$v=19$m=1,t=1,p=1$$", "")
	f.Add("$argon2id$v=19$m=999999999,t=1,p=1$c2FsdA$aGFzaA", "x")
	f.Add("$argon2i$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", "x")
	f.Add(strings.Repeat("$", 100), "x")
	f.Fuzz(func(t *testing.T, encoded, password string) {
		ok := checkHash(encoded, password)
		if encoded == good && ok != (password == "correct horse battery") {
			t.Errorf("checkHash(good, %q) = %v", password, ok)
		}
	})
}

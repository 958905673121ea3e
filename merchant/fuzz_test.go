package merchant_test

import (
	"testing"

	"github.com/portrait-id/portrait/merchant"
)

// FuzzParseKey: a master key from the environment or a file is either
// exactly KeySize bytes or an ErrMasterKey, and a parsed key always seals
// and opens.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{
		"4242424242424242424242424242424242424242424242424242424242424242",
		"QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=",
		"QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI",
		" 4242424242424242424242424242424242424242424242424242424242424242\n",
		"", "zz", "42",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := merchant.ParseKey(s)
		if err != nil {
			return
		}
		if len(k) != merchant.KeySize {
			t.Fatalf("ParseKey(%q) gave %d bytes", s, len(k))
		}
		sealer, err := merchant.NewSealer(k)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := sealer.Open("pk", sealer.Seal("pk", "secret")); err != nil || got != "secret" {
			t.Fatalf("round trip under %x: %q %v", k, got, err)
		}
	})
}

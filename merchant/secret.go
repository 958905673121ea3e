package merchant

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/portrait-id/portrait/store"
)

// KeySize is the master key's length: AES-256.
const KeySize = 32

// ErrMasterKey is a master key that is missing, malformed, or does not open
// the stored secrets.
var ErrMasterKey = errors.New("master key")

// Sealer encrypts data at rest with AES-GCM under the master key: the
// merchants' app_secrets, and the registry's reference photos and face
// templates. Each ciphertext is bound to what it belongs to (as additional
// data: an app_key, or a kind and an ID number), so a sealed value copied
// onto another row does not open.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer for a KeySize-byte master key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrMasterKey, len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMasterKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMasterKey, err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal returns nonce || ciphertext of secret for appKey.
func (s *Sealer) Seal(appKey, secret string) []byte { return s.SealBytes(appKey, []byte(secret)) }

// Open recovers the secret sealed for appKey.
func (s *Sealer) Open(appKey string, sealed []byte) (string, error) {
	plain, err := s.OpenBytes(appKey, sealed)
	if err != nil {
		return "", fmt.Errorf("open secret of %s: %w", appKey, err)
	}
	return string(plain), nil
}

// SealBytes returns nonce || ciphertext of plain, bound to ad.
func (s *Sealer) SealBytes(ad string, plain []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	rand.Read(nonce) // crypto/rand.Read never fails on supported platforms
	return s.aead.Seal(nonce, nonce, plain, []byte(ad))
}

// OpenBytes recovers what SealBytes sealed for ad.
func (s *Sealer) OpenBytes(ad string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, fmt.Errorf("%w: ciphertext too short", ErrMasterKey)
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(ad))
	if err != nil {
		return nil, fmt.Errorf("%w: wrong key or corrupt row", ErrMasterKey)
	}
	return plain, nil
}

// ParseKey reads a master key written as 64 hex digits or as standard or
// URL-safe base64 of 32 bytes; surrounding white space is ignored.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if k, err := hex.DecodeString(s); err == nil && len(k) == KeySize {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: want 64 hex digits or base64 of %d bytes", ErrMasterKey, KeySize)
}

// ReadKeyFile reads a master key file holding the key as ParseKey accepts it,
// refusing one that others than its owner may read or write: with the key,
// anyone who can read the database reads every app_secret.
func ReadKeyFile(path string) ([]byte, error) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, readable by others: chmod 600 it", ErrMasterKey, path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrMasterKey, path, err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// EnsureKeyFile reads the key file at path, or, when there is none, creates
// it (mode 0600, exclusively, so two processes starting at once agree on one
// key) with a new random key; created tells which.
func EnsureKeyFile(path string) (key []byte, created bool, err error) {
	if k, err := ReadKeyFile(path); err == nil {
		return k, false, nil
	} else if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
		return nil, false, err
	}
	key = make([]byte, KeySize)
	rand.Read(key)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process won the race; give it a moment to finish writing.
		for range 40 {
			if k, err := ReadKeyFile(path); err == nil {
				return k, false, nil
			}
			time.Sleep(25 * time.Millisecond)
		}
		k, err := ReadKeyFile(path)
		return k, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w: create %s: %v", ErrMasterKey, path, err)
	}
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(path)
		return nil, false, fmt.Errorf("%w: write %s: %v", ErrMasterKey, path, err)
	}
	return key, true, nil
}

// keyCheckLabel binds the check value's seal as an app_key binds a secret's.
const keyCheckLabel = "portrait master key check"

// CheckKey makes sure s holds the key the store's secrets are sealed with:
// the first process stores a check value sealed with its key, and every
// later one must be able to open it. A store from before the check value
// has it stored only once one of its merchants' secrets opens.
func CheckKey(ctx context.Context, st interface {
	store.KeyCheck
	store.Merchants
}, s *Sealer) error {
	ms, err := st.ListMerchants(ctx)
	if err != nil {
		return fmt.Errorf("master key check: %w", err)
	}
	if len(ms) > 0 {
		if _, err := s.Open(ms[0].AppKey, ms[0].SecretCipher); err != nil {
			return fmt.Errorf("%w: it does not open this database's app_secrets", ErrMasterKey)
		}
	}
	stored, err := st.SetKeyCheck(ctx, s.Seal(keyCheckLabel, keyCheckLabel))
	if err != nil {
		return fmt.Errorf("master key check: %w", err)
	}
	if _, err := s.Open(keyCheckLabel, stored); err != nil {
		return fmt.Errorf("%w: not the key this database was set up with", ErrMasterKey)
	}
	return nil
}

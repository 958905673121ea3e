package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/portrait-id/portrait/store"
)

// Errors of operator accounts.
var (
	ErrBadLogin     = errors.New("unknown operator or wrong password")
	ErrBadPassword  = errors.New("password must be 12 to 256 characters")
	ErrBadName      = errors.New("operator name must be 1 to 64 characters of [0-9A-Za-z._-]")
	ErrRateLimited  = errors.New("too many login attempts; wait a minute")
	ErrUnknownOp    = errors.New("no such operator")
	ErrOperatorUsed = errors.New("operator name already taken")
)

// argon2id parameters: the OWASP recommendation's second option (19 MiB,
// two passes, one lane), about 30 ms a check here, which bounds both a
// guessing attacker and what a burst of logins costs the server.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// HashPassword returns password's argon2id hash in the PHC string format,
// which carries its parameters so that they can be raised later.
func HashPassword(password string) (string, error) {
	if err := checkPassword(password); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// checkHash reports whether password matches a HashPassword string. The
// parameters are bounded so that a tampered row cannot make a login cost
// gigabytes.
func checkHash(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 64*1024 || t == 0 || t > 4 || p == 0 || p > 4 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

func checkPassword(pw string) error {
	if n := utf8.RuneCountInString(pw); n < 12 || n > 256 || !utf8.ValidString(pw) {
		return ErrBadPassword
	}
	return nil
}

func checkName(name string) error {
	if name == "" || len(name) > 64 {
		return ErrBadName
	}
	for _, c := range name {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '_' || c == '-') {
			return ErrBadName
		}
	}
	return nil
}

// Accounts manages operator accounts and records what is done to them in
// the audit log; the CLI and the console share it.
type Accounts struct {
	st  store.Operators
	now func() time.Time
	// dummy is checked against when the operator is unknown, so that a
	// login takes as long whether or not the name exists.
	dummy func() string
}

// NewAccounts returns the accounts of st.
func NewAccounts(st store.Operators) *Accounts {
	return &Accounts{st: st, now: func() time.Time { return time.Now().UTC() },
		dummy: sync.OnceValue(func() string { h, _ := HashPassword("not a password of anyone"); return h })}
}

// Audit records one action; by is the operator ("cli" for the command
// line), remote the client's address.
func (a *Accounts) Audit(ctx context.Context, by, action, target, detail, remote string) error {
	_, err := a.st.AppendAudit(ctx, store.AuditEntry{Time: a.now(), Operator: by, Action: action, Target: target, Detail: detail, Remote: remote})
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// Add creates an operator.
func (a *Accounts) Add(ctx context.Context, by, name, password string) error {
	if err := checkName(name); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	now := a.now()
	err = a.st.CreateOperator(ctx, store.Operator{Name: name, PasswordHash: hash, CreatedAt: now, UpdatedAt: now})
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%s: %w", name, ErrOperatorUsed)
	}
	if err != nil {
		return err
	}
	return a.Audit(ctx, by, "operator.add", name, "", "")
}

// SetPassword replaces an operator's password, ending its sessions.
func (a *Accounts) SetPassword(ctx context.Context, by, name, password string) error {
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	op, err := a.st.GetOperator(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s: %w", name, ErrUnknownOp)
	}
	if err != nil {
		return err
	}
	op.PasswordHash, op.UpdatedAt = hash, a.now()
	if err := a.st.UpdateOperator(ctx, op); err != nil {
		return err
	}
	return a.Audit(ctx, by, "operator.passwd", name, "sessions ended", "")
}

// Remove deletes an operator and its sessions.
func (a *Accounts) Remove(ctx context.Context, by, name string) error {
	err := a.st.DeleteOperator(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s: %w", name, ErrUnknownOp)
	}
	if err != nil {
		return err
	}
	return a.Audit(ctx, by, "operator.remove", name, "", "")
}

// List returns every operator, without password hashes.
func (a *Accounts) List(ctx context.Context) ([]store.Operator, error) {
	ops, err := a.st.ListOperators(ctx)
	for i := range ops {
		ops[i].PasswordHash = ""
	}
	return ops, err
}

// authenticate checks a login; ErrBadLogin says nothing of which part was
// wrong.
func (a *Accounts) authenticate(ctx context.Context, name, password string) error {
	op, err := a.st.GetOperator(ctx, name)
	if errors.Is(err, store.ErrNotFound) || checkName(name) != nil {
		checkHash(a.dummy(), password)
		return ErrBadLogin
	}
	if err != nil {
		return err
	}
	if !checkHash(op.PasswordHash, password) {
		return ErrBadLogin
	}
	return nil
}

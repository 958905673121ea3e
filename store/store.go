// Package store defines what the domain needs of persistent storage, one small
// interface per domain (merchants, ledger, identities), so that every backend
// (SQLite, PostgreSQL) is interchangeable and checked by one conformance suite
// (package storetest).
//
// The store knows nothing of the API's codes: a ledger row carries its code as
// an opaque string decided by the caller.
package store

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors every backend returns, wrapped with context.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrQuotaExhausted is a charged ledger row refused because its merchant's
	// free quota is used up; the row is not written and nothing is charged.
	ErrQuotaExhausted = errors.New("free quota used up")
)

// Merchant statuses.
const (
	StatusActive   = "active"
	StatusFrozen   = "frozen"
	StatusDisabled = "disabled"
)

// Merchant is a merchant account as stored. The secret is kept only as
// SecretCipher, sealed by package merchant; the store never sees it in clear.
type Merchant struct {
	AppKey       string
	Name         string
	SecretCipher []byte
	Status       string
	ExpiresAt    time.Time // zero: never expires
	Services     []string  // granted services, sorted
	QPS          float64   // token-bucket refill rate, calls per second
	Burst        int       // token-bucket size
	FreeQuota    int64     // charged calls allowed; 0: unlimited
	QuotaUsed    int64     // charged calls so far; moved only by Ledger.Append
	// Route is where this merchant's calls are answered (a routing mode of
	// package upstream: registry, registry-first, upstream); "": the
	// instance's default.
	Route     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Merchants stores merchant accounts.
type Merchants interface {
	// CreateMerchant fails with ErrExists when the app_key is taken. QuotaUsed
	// starts at 0 whatever m says.
	CreateMerchant(ctx context.Context, m Merchant) error
	// GetMerchant fails with ErrNotFound for an unknown app_key.
	GetMerchant(ctx context.Context, appKey string) (Merchant, error)
	// ListMerchants returns every merchant ordered by app_key.
	ListMerchants(ctx context.Context) ([]Merchant, error)
	// UpdateMerchant reads the merchant, lets edit change it and writes
	// every field but AppKey, QuotaUsed and CreatedAt back (quota use moves
	// only with charged ledger rows), all in one transaction holding the row,
	// so that two operators' changes at once (a freeze and a secret rotation)
	// never undo each other. An error from edit aborts the update and is
	// returned as it is; ErrNotFound when the merchant is absent. It returns
	// the merchant as written.
	UpdateMerchant(ctx context.Context, appKey string, edit func(*Merchant) error) (Merchant, error)
	// DeleteMerchant removes a merchant account; its ledger rows stay, as
	// the bill. ErrNotFound when absent.
	DeleteMerchant(ctx context.Context, appKey string) error
}

// EditMerchant runs an UpdateMerchant edit on m for a backend: the fields
// an edit may not change are put back, and UpdatedAt is stamped now unless
// the edit set it.
func EditMerchant(m *Merchant, edit func(*Merchant) error) error {
	kept := *m
	if err := edit(m); err != nil {
		return err
	}
	m.AppKey, m.QuotaUsed, m.CreatedAt = kept.AppKey, kept.QuotaUsed, kept.CreatedAt
	if m.UpdatedAt.Equal(kept.UpdatedAt) {
		m.UpdatedAt = time.Now().UTC()
	}
	return nil
}

// LedgerRow is one call that reached a known merchant. Answer fields
// (Result, IDName, Photo, Score, Reason) and Digest are set for answers that
// an idempotent retry must get back; Digest is the SHA-256 of the request's
// content and nil for rows that are not to be replayed.
type LedgerRow struct {
	TraceID   string
	AppKey    string
	RequestID string
	Code      string
	Result    int
	IDName    int
	Photo     int
	Score     float64
	Reason    string
	Digest    []byte
	Charged   bool
	Latency   time.Duration
	Time      time.Time
	IDMasked  string // first 6 and last 4 characters of the ID number
	// UpstreamTraceID and UpstreamCharged are the supplier's call behind
	// this row, empty when none was asked, so that the operator can
	// reconcile the supplier's bill with the merchants'.
	UpstreamTraceID string
	UpstreamCharged bool
}

// LedgerFilter selects ledger rows; zero fields select everything.
type LedgerFilter struct {
	AppKey    string
	TraceID   string
	RequestID string
	Code      string
	From      time.Time // inclusive
	To        time.Time // exclusive
	Limit     int       // rows only; 0: no limit
	// Newest orders rows newest first (rows only), so that a limited
	// listing shows the latest calls.
	Newest bool
}

// Usage is the number of calls of one merchant on one UTC day with one code.
type Usage struct {
	AppKey  string
	Day     string // 2006-01-02, UTC
	Code    string
	Calls   int64
	Charged int64
	// UpstreamCharged counts the calls a supplier billed us for, to be
	// compared with its bill.
	UpstreamCharged int64
}

// Ledger stores the billing ledger.
type Ledger interface {
	// AppendLedger commits rows in one transaction and returns one error per
	// row: nil when the row is written or its trace_id already was (rows are
	// idempotent by trace_id: a second copy neither writes nor charges), or
	// ErrQuotaExhausted for a charged row whose merchant's free quota is used
	// up (that row is not written). A charged row increments its merchant's
	// QuotaUsed in the same transaction. A non-nil error is for the whole batch,
	// nothing of which was committed.
	AppendLedger(ctx context.Context, rows []LedgerRow) ([]error, error)
	// ListLedger returns rows matching f ordered by time then trace_id.
	ListLedger(ctx context.Context, f LedgerFilter) ([]LedgerRow, error)
	// LedgerUsage aggregates rows matching f (Limit and Newest ignored) per
	// merchant, UTC day and code, ordered by app_key, day, code. A filter of
	// whole UTC days (From and To zero or at midnight UTC) on app_key alone
	// is answered from per-day totals kept as rows are written, whatever
	// the ledger's size.
	LedgerUsage(ctx context.Context, f LedgerFilter) ([]Usage, error)
	// FindAnswer returns the row of appKey's requestID that carries a Digest
	// (an answer to replay), or ErrNotFound.
	FindAnswer(ctx context.Context, appKey, requestID string) (LedgerRow, error)
}

// Template statuses of an identity's reference photo.
const (
	TemplateNone   = "none"    // no photo
	TemplateOK     = "ok"      // Template holds the photo's face template
	TemplateNoFace = "no_face" // the photo yields no usable face
)

// Identity is a registry record. The reference photo and its face template
// are biometric data: package identity seals both (AES-GCM under the master
// key) before they reach the store, which holds only ciphertext, except in
// rows written before sealing existed (Sealed false), whose Template is in
// clear until the registry seals it.
type Identity struct {
	IDNumber    string
	Name        string
	PhotoSHA256 []byte // nil: no photo
	// Photo is the sealed reference photo, nil when there is none or the
	// operator chose not to keep it (such a record cannot be re-embedded).
	// ListIdentities leaves it nil; PhotoKept says whether there is one.
	Photo     []byte
	PhotoKept bool // set by GetIdentity and ListIdentities; ignored by PutIdentity
	// TemplateStatus and TemplateModel are what the descriptor named by
	// TemplateModel (face.Template.Model; "" when no descriptor has seen the
	// photo, or for no_face rows older than this column) made of the photo.
	// The model is kept in clear beside the sealed template so that a change
	// of descriptor is found by a count, without opening every row.
	TemplateStatus string
	TemplateModel  string
	Template       []byte // sealed face.Template when TemplateStatus is ok; ListIdentities leaves it nil
	Sealed         bool   // Template (and Photo) are sealed
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// IdentityFilter selects registry records; zero fields select everything.
type IdentityFilter struct {
	IDPrefix string // ID numbers starting with it (byte-wise)
	After    string // ID numbers ordered after it: keyset paging
	Offset   int    // records skipped after the others apply
	Limit    int    // 0: no limit
	Unsealed bool   // only records with Sealed false
}

// TemplateCount is the number of records with one template status made by
// one descriptor.
type TemplateCount struct {
	Model  string
	Status string
	Count  int64
}

// Identities stores the identity registry.
type Identities interface {
	// PutIdentity creates or replaces the record of rec.IDNumber.
	PutIdentity(ctx context.Context, rec Identity) error
	// GetIdentity fails with ErrNotFound for an unknown ID number.
	GetIdentity(ctx context.Context, idNumber string) (Identity, error)
	// DeleteIdentity fails with ErrNotFound for an unknown ID number.
	DeleteIdentity(ctx context.Context, idNumber string) error
	// ListIdentities returns the records matching f ordered by ID number,
	// without their Photo and Template (an operator's listing, or the walk of
	// a re-embedding, which opens the records it changes one at a time).
	ListIdentities(ctx context.Context, f IdentityFilter) ([]Identity, error)
	// CountTemplates counts records per TemplateModel and TemplateStatus,
	// ordered by both, from an index: cheap enough for every start-up.
	CountTemplates(ctx context.Context) ([]TemplateCount, error)
	// UpdateTemplate rewrites TemplateStatus, TemplateModel, Template and
	// Sealed of rec.IDNumber, and nothing else, only while the record still
	// holds the photo rec.PhotoSHA256 names: a template computed from a photo
	// an operator has since replaced is never written over the new one's.
	// ErrNotFound when the record is gone or holds another photo.
	UpdateTemplate(ctx context.Context, rec Identity) error
}

// Operator is an account of the operators' web console. PasswordHash is
// the password's encoded memory-hard hash, made and checked by the console;
// the store never sees a password.
type Operator struct {
	Name         string
	PasswordHash string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Session is a signed-in operator. Only the SHA-256 of the cookie's token
// is stored, so that a copy of the database signs nobody in.
type Session struct {
	TokenHash []byte
	Operator  string
	CSRF      string // the token every form of this session must carry
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuditEntry is one operator action.
type AuditEntry struct {
	ID       int64 // assigned by AppendAudit
	Time     time.Time
	Operator string
	Action   string // e.g. merchant.create, login.failed
	Target   string // what it acted on: an app_key, a masked ID number
	Detail   string
	Remote   string // the client's address
}

// AuditFilter selects audit entries; zero fields select everything.
type AuditFilter struct {
	Operator string
	From     time.Time // inclusive
	To       time.Time // exclusive
	Limit    int       // 0: no limit
}

// Operators stores console accounts, their sessions and the audit log.
type Operators interface {
	// CreateOperator fails with ErrExists when the name is taken.
	CreateOperator(ctx context.Context, op Operator) error
	// GetOperator fails with ErrNotFound for an unknown name.
	GetOperator(ctx context.Context, name string) (Operator, error)
	// ListOperators returns every operator ordered by name.
	ListOperators(ctx context.Context) ([]Operator, error)
	// UpdateOperator rewrites PasswordHash and UpdatedAt and ends the
	// operator's sessions. ErrNotFound when absent.
	UpdateOperator(ctx context.Context, op Operator) error
	// DeleteOperator removes the operator and its sessions (its audit
	// entries stay). ErrNotFound when absent.
	DeleteOperator(ctx context.Context, name string) error

	// CreateSession stores s, dropping sessions expired by s.CreatedAt.
	CreateSession(ctx context.Context, s Session) error
	// GetSession fails with ErrNotFound for an unknown token hash; an
	// expired session is returned as stored, for the caller to refuse.
	GetSession(ctx context.Context, tokenHash []byte) (Session, error)
	// DeleteSession ends one session; an unknown one is no error.
	DeleteSession(ctx context.Context, tokenHash []byte) error

	// AppendAudit records e, setting its ID.
	AppendAudit(ctx context.Context, e AuditEntry) (int64, error)
	// ListAudit returns entries matching f, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

// Store is one backend holding every domain's data.
type Store interface {
	Merchants
	Ledger
	Identities
	Operators
	KeyCheck
	Close() error
}

// KeyCheck keeps a check value of the master key that seals the secrets
// (package merchant), so that a process given another key can refuse to
// start instead of answering every call 9999.
type KeyCheck interface {
	// SetKeyCheck stores v unless a value is stored already, and returns
	// the value stored.
	SetKeyCheck(ctx context.Context, v []byte) ([]byte, error)
}

// PrefixEnd is the least string above every string starting with p in
// code-point (for valid UTF-8, byte) order, and false when there is none,
// so that backends can answer IdentityFilter.IDPrefix as a range of their
// primary key: LIKE would not use the index with a bound parameter, and
// would take % and _ for wildcards.
func PrefixEnd(p string) (string, bool) {
	r := []rune(p)
	for i := len(r) - 1; i >= 0; i-- {
		switch {
		case r[i] == 0xD7FF:
			r[i] = 0xE000 // past the surrogates, which UTF-8 cannot hold
		case r[i] < utf8.MaxRune:
			r[i]++
		default:
			continue
		}
		return string(r[:i+1]), true
	}
	return "", false
}

// DailyTotals sums rows per merchant, UTC day and code, ordered by app_key,
// day, code: what a backend adds to its per-day totals for the rows a batch
// kept.
func DailyTotals(rows []LedgerRow) []Usage {
	type key struct{ appKey, day, code string }
	sums := map[key]*Usage{}
	var out []*Usage
	for _, r := range rows {
		k := key{r.AppKey, r.Time.UTC().Format(time.DateOnly), r.Code}
		u := sums[k]
		if u == nil {
			u = &Usage{AppKey: k.appKey, Day: k.day, Code: k.code}
			sums[k] = u
			out = append(out, u)
		}
		u.Calls++
		if r.Charged {
			u.Charged++
		}
		if r.UpstreamCharged {
			u.UpstreamCharged++
		}
	}
	slices.SortFunc(out, func(a, b *Usage) int {
		return cmp.Or(strings.Compare(a.AppKey, b.AppKey), strings.Compare(a.Day, b.Day), strings.Compare(a.Code, b.Code))
	})
	totals := make([]Usage, len(out))
	for i, u := range out {
		totals[i] = *u
	}
	return totals
}

// WholeDays reports whether f selects whole UTC days by merchant and code
// only, so that per-day totals answer it, and which days: from inclusive,
// to exclusive, "" for unbounded.
func WholeDays(f LedgerFilter) (from, to string, ok bool) {
	if f.TraceID != "" || f.RequestID != "" {
		return "", "", false
	}
	day := func(t time.Time) (string, bool) {
		if t.IsZero() {
			return "", true
		}
		t = t.UTC()
		return t.Format(time.DateOnly), t.Equal(t.Truncate(24 * time.Hour))
	}
	from, okFrom := day(f.From)
	to, okTo := day(f.To)
	return from, to, okFrom && okTo
}

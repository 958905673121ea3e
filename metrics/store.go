package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/portrait-id/portrait/store"
)

// Store returns s recording each operation's time and counting its failures
// as storage errors. Answers that are part of the store's contract (not
// found, already exists, quota used up) and calls abandoned by their caller
// are not failures of the storage.
func (m *Metrics) Store(s store.Store) store.Store { return &observedStore{Operators: s, s: s, m: m} }

// observedStore passes the console's operations (store.Operators) through
// unobserved: they are an operator's clicks, not the service's load.
type observedStore struct {
	store.Operators
	s store.Store
	m *Metrics
}

func (o *observedStore) done(op string, start time.Time, err error) {
	o.m.storageOps.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrExists) &&
		!errors.Is(err, store.ErrQuotaExhausted) && !errors.Is(err, context.Canceled) {
		o.m.storageErrors.WithLabelValues(op).Inc()
	}
}

// Ping passes a readiness check through to backends that have one.
func (o *observedStore) Ping(ctx context.Context) error {
	if p, ok := o.s.(interface{ Ping(context.Context) error }); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (o *observedStore) Close() error { return o.s.Close() }

// timed runs one operation, recording it as op.
func timed[T any](o *observedStore, op string, f func() (T, error)) (T, error) {
	start := time.Now()
	v, err := f()
	o.done(op, start, err)
	return v, err
}

// timedErr is timed for operations returning only an error.
func timedErr(o *observedStore, op string, f func() error) error {
	_, err := timed(o, op, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

func (o *observedStore) CreateMerchant(ctx context.Context, m store.Merchant) error {
	return timedErr(o, "create_merchant", func() error { return o.s.CreateMerchant(ctx, m) })
}

func (o *observedStore) GetMerchant(ctx context.Context, appKey string) (store.Merchant, error) {
	return timed(o, "get_merchant", func() (store.Merchant, error) { return o.s.GetMerchant(ctx, appKey) })
}

func (o *observedStore) ListMerchants(ctx context.Context) ([]store.Merchant, error) {
	return timed(o, "list_merchants", func() ([]store.Merchant, error) { return o.s.ListMerchants(ctx) })
}

func (o *observedStore) UpdateMerchant(ctx context.Context, appKey string, edit func(*store.Merchant) error) (store.Merchant, error) {
	return timed(o, "update_merchant", func() (store.Merchant, error) { return o.s.UpdateMerchant(ctx, appKey, edit) })
}

func (o *observedStore) SetKeyCheck(ctx context.Context, v []byte) ([]byte, error) {
	return timed(o, "set_key_check", func() ([]byte, error) { return o.s.SetKeyCheck(ctx, v) })
}

func (o *observedStore) DeleteMerchant(ctx context.Context, appKey string) error {
	return timedErr(o, "delete_merchant", func() error { return o.s.DeleteMerchant(ctx, appKey) })
}

func (o *observedStore) AppendLedger(ctx context.Context, rows []store.LedgerRow) ([]error, error) {
	return timed(o, "append_ledger", func() ([]error, error) { return o.s.AppendLedger(ctx, rows) })
}

func (o *observedStore) ListLedger(ctx context.Context, f store.LedgerFilter) ([]store.LedgerRow, error) {
	return timed(o, "list_ledger", func() ([]store.LedgerRow, error) { return o.s.ListLedger(ctx, f) })
}

func (o *observedStore) LedgerUsage(ctx context.Context, f store.LedgerFilter) ([]store.Usage, error) {
	return timed(o, "ledger_usage", func() ([]store.Usage, error) { return o.s.LedgerUsage(ctx, f) })
}

func (o *observedStore) FindAnswer(ctx context.Context, appKey, requestID string) (store.LedgerRow, error) {
	return timed(o, "find_answer", func() (store.LedgerRow, error) { return o.s.FindAnswer(ctx, appKey, requestID) })
}

func (o *observedStore) PutIdentity(ctx context.Context, rec store.Identity) error {
	return timedErr(o, "put_identity", func() error { return o.s.PutIdentity(ctx, rec) })
}

func (o *observedStore) GetIdentity(ctx context.Context, idNumber string) (store.Identity, error) {
	return timed(o, "get_identity", func() (store.Identity, error) { return o.s.GetIdentity(ctx, idNumber) })
}

func (o *observedStore) DeleteIdentity(ctx context.Context, idNumber string) error {
	return timedErr(o, "delete_identity", func() error { return o.s.DeleteIdentity(ctx, idNumber) })
}

func (o *observedStore) ListIdentities(ctx context.Context, f store.IdentityFilter) ([]store.Identity, error) {
	return timed(o, "list_identities", func() ([]store.Identity, error) { return o.s.ListIdentities(ctx, f) })
}

func (o *observedStore) CountTemplates(ctx context.Context) ([]store.TemplateCount, error) {
	return timed(o, "count_templates", func() ([]store.TemplateCount, error) { return o.s.CountTemplates(ctx) })
}

func (o *observedStore) UpdateTemplate(ctx context.Context, rec store.Identity) error {
	return timedErr(o, "update_template", func() error { return o.s.UpdateTemplate(ctx, rec) })
}

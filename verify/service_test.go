package verify_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/idcard"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/ledger"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/protocol"
	"github.com/portrait-id/portrait/sign"
	"github.com/portrait-id/portrait/state"
	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/store/sqlite"
	"github.com/portrait-id/portrait/verify"
)

var ctx = context.Background()

// Valid GB 11643 numbers.
const (
	idMatch   = "11010519491231002X" // 张三, usable photo
	idNoPhoto = "110101199003071233" // 李四, no photo
	idNoFace  = "440304198501010013" // 王五, photo without a face
	idUnknown = "110101199003076632"
)

// fakeFaces reads the selfie as an instruction: "Q:reason" fails the gate,
// "BAD" is not an image, "BLOCK" waits for unblock, "STALL" for the call's
// deadline, "PANIC" panics; anything else embeds.
type fakeFaces struct {
	score    float64
	scoreErr error
	unblock  chan struct{}
	probes   atomic.Int64
}

func (f *fakeFaces) Probe(ctx context.Context, img []byte) (face.Template, error) {
	f.probes.Add(1)
	switch s := string(img); {
	case strings.HasPrefix(s, "Q:"):
		return face.Template{}, &face.QualityError{Reason: face.Reason(s[2:]), Detail: "test"}
	case s == "BAD":
		return face.Template{}, fmt.Errorf("%w: not a JPG, PNG, BMP, GIF or TIFF file", face.ErrImage)
	case s == "BLOCK":
		<-f.unblock
	case s == "STALL":
		<-ctx.Done()
		return face.Template{}, fmt.Errorf("decode: %w", ctx.Err())
	case s == "PANIC":
		var m map[string]int
		m["a decider's bug"]++
	}
	return face.Template{Model: "t", Vector: []float32{1}}, nil
}

func (f *fakeFaces) Score(probe, ref face.Template) (float64, error) {
	if probe.Model != ref.Model {
		return 0, errors.New("model mismatch")
	}
	return f.score, f.scoreErr
}

// fakeSource is a registry in a map, with injectable failure and delay.
type fakeSource struct {
	recs  map[string]identity.Result
	names map[string]string
	err   error
	delay time.Duration
}

func (s *fakeSource) Lookup(ctx context.Context, q identity.Query) (identity.Result, error) {
	id, name := q.IDNumber, q.Name
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return identity.Result{}, ctx.Err()
		}
	}
	if s.err != nil {
		return identity.Result{}, s.err
	}
	r, ok := s.recs[id]
	if !ok {
		return identity.Result{}, nil
	}
	if s.names[id] != name {
		return identity.Result{Found: true}, nil
	}
	return r, nil
}

func newSource() *fakeSource {
	tmpl := face.Template{Model: "t", Vector: []float32{1}}
	return &fakeSource{
		recs: map[string]identity.Result{
			idMatch:   {Found: true, NameMatch: true, HasPhoto: true, Usable: true, Template: tmpl},
			idNoPhoto: {Found: true, NameMatch: true},
			idNoFace:  {Found: true, NameMatch: true, HasPhoto: true},
		},
		names: map[string]string{idMatch: "张三", idNoPhoto: "李四", idNoFace: "王五"},
	}
}

// codeOf is the code a call's error is answered with.
func codeOf(err error) string { return string(protocol.CodeOf(err)) }

type env struct {
	t      *testing.T
	db     *sqlite.DB
	merch  *merchant.Service
	faces  *fakeFaces
	source *fakeSource
	book   *ledger.Book
	svc    *verify.Service
	key    string
	secret string
	seq    atomic.Int64
}

func newEnv(t *testing.T, edit func(*merchant.Settings)) *env {
	t.Helper()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := merchant.NewSealer(bytes.Repeat([]byte{7}, merchant.KeySize))
	e := &env{t: t, db: db, faces: &fakeFaces{score: 87.456, unblock: make(chan struct{})}, source: newSource(), book: ledger.Open(db)}
	e.merch = merchant.New(merchant.Config{Store: db, Sealer: sealer, Limiter: state.NewLimiter(), Signs: state.NewSigns()})
	t.Cleanup(func() { e.book.Close(); db.Close() })
	set := merchant.NewSettings("test")
	set.QPS, set.Burst = 1000, 1000
	if edit != nil {
		edit(&set)
	}
	c, err := e.merch.Create(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	e.key, e.secret = c.Merchant.AppKey, c.Secret
	e.configure(nil)
	return e
}

// configure (re)builds the service with the test's settings, edited.
func (e *env) configure(edit func(*verify.Config)) {
	cfg := verify.Config{
		Merchants: e.merch, Claims: state.NewClaims(), Faces: e.faces, Identities: e.source,
		Ledger: e.book, IdentityTimeout: 100 * time.Millisecond, ReplayWait: 5 * time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	var err error
	if e.svc, err = verify.NewService(cfg); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) request(id, name, selfie string) verify.Request {
	n := e.seq.Add(1)
	now := time.Now()
	r := verify.Request{
		TraceID: fmt.Sprintf("TID%032x", n), AppKey: e.key, RequestID: fmt.Sprintf("req-%d", n),
		IDNumber: id, Name: name, Timestamp: strconv.FormatInt(now.UnixMilli(), 10), Selfie: []byte(selfie), Received: now,
	}
	e.sign(&r)
	return r
}

func (e *env) sign(r *verify.Request) {
	signAs(r, e.secret)
}

// signAs signs r with secret as the API's handler would present it.
func signAs(r *verify.Request, secret string) {
	r.Service = merchant.ServicePortrait
	r.Signed = []string{r.AppKey, r.IDNumber, r.Name, r.RequestID, r.Timestamp}
	r.Sign = sign.Compute(r.AppKey, r.IDNumber, r.Name, r.RequestID, r.Timestamp, secret)
}

func (e *env) rows() []store.LedgerRow {
	rows, err := e.db.ListLedger(ctx, store.LedgerFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func (e *env) rowOf(trace string) (store.LedgerRow, int) {
	var found store.LedgerRow
	n := 0
	for _, r := range e.rows() {
		if r.TraceID == trace {
			found, n = r, n+1
		}
	}
	return found, n
}

func TestDataShapes(t *testing.T) {
	cases := []struct {
		name     string
		id, nm   string
		selfie   string
		setup    func(*env)
		wantErr  error
		wantCode string
		want     verify.Data
	}{
		{"match", idMatch, "张三", "selfie", nil, nil, "0000", verify.Data{Result: 1, IDName: 1, Photo: 1, Score: 87.46}},
		{"lowercase x", strings.ToLower(idMatch), "张三", "selfie", nil, nil, "0000", verify.Data{Result: 1, IDName: 1, Photo: 1, Score: 87.46}},
		{"name mismatch", idMatch, "李四", "selfie", nil, nil, "0000", verify.Data{Result: 1, IDName: 2}},
		{"unknown id", idUnknown, "张三", "selfie", nil, nil, "0000", verify.Data{Result: 1, IDName: 2}},
		{"no photo", idNoPhoto, "李四", "selfie", nil, nil, "0000", verify.Data{Result: 1, IDName: 1, Photo: 2}},
		{"photo without face", idNoFace, "王五", "selfie", nil, nil, "0000", verify.Data{Result: 1, IDName: 1, Photo: 3}},
		{"quality", idMatch, "张三", "Q:blur", nil, nil, "0000", verify.Data{Result: 2, Reason: "blur"}},
		{"not an image", idMatch, "张三", "BAD", nil, face.ErrImage, "1002", verify.Data{}},
		{"bad id checksum", "110101199003071234", "张三", "selfie", nil, idcard.ErrInvalid, "1002", verify.Data{}},
		{"bad name", idMatch, "张\x01三", "selfie", nil, idcard.ErrInvalid, "1002", verify.Data{}},
		{"source down", idMatch, "张三", "selfie", func(e *env) { e.source.err = errors.New("connection refused") }, identity.ErrUnavailable, "2000", verify.Data{}},
		{"source slow", idMatch, "张三", "selfie", func(e *env) { e.source.delay = time.Second }, identity.ErrUnavailable, "2000", verify.Data{}},
		{"score fails", idMatch, "张三", "selfie", func(e *env) { e.faces.scoreErr = errors.New("boom") }, nil, "9999", verify.Data{}},
		{"score clamped", idMatch, "张三", "selfie", func(e *env) { e.faces.score = 100.7 }, nil, "0000", verify.Data{Result: 1, IDName: 1, Photo: 1, Score: 100}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			if tc.setup != nil {
				tc.setup(e)
			}
			req := e.request(tc.id, tc.nm, tc.selfie)
			out := e.svc.Verify(ctx, req)
			if tc.wantErr != nil && !errors.Is(out.Err, tc.wantErr) {
				t.Errorf("err %v, want %v", out.Err, tc.wantErr)
			}
			if got := codeOf(out.Err); got != tc.wantCode {
				t.Errorf("code %s (%v), want %s", got, out.Err, tc.wantCode)
			}
			if out.Data != tc.want {
				t.Errorf("data %+v, want %+v", out.Data, tc.want)
			}
			wantCharged := out.Err == nil && out.Data.Result == protocol.ResultFound
			if out.Charged != wantCharged || out.TraceID != req.TraceID {
				t.Errorf("charged %v trace %s; want %v %s", out.Charged, out.TraceID, wantCharged, req.TraceID)
			}
			row, n := e.rowOf(req.TraceID)
			if n != 1 {
				t.Fatalf("%d ledger rows for the call, want 1", n)
			}
			if row.Code != tc.wantCode || row.Charged != out.Charged || row.Result != out.Data.Result ||
				row.IDMasked != idcard.MaskID(tc.id) || row.RequestID != req.RequestID || row.AppKey != e.key {
				t.Errorf("ledger row %+v does not match the outcome %+v", row, out)
			}
			if (row.Digest != nil) != (out.Err == nil) {
				t.Errorf("row digest %x for err %v: only 0000 answers are remembered", row.Digest, out.Err)
			}
			m, _ := e.db.GetMerchant(ctx, e.key)
			if (m.QuotaUsed == 1) != out.Charged {
				t.Errorf("quota use %d for charged %v", m.QuotaUsed, out.Charged)
			}
		})
	}
}

func TestPolicyOutcomes(t *testing.T) {
	e := newEnv(t, nil)
	req := e.request(idMatch, "张三", "selfie")
	req.AppKey = "pk_nobody"
	if out := e.svc.Verify(ctx, req); !errors.Is(out.Err, merchant.ErrUnknownAppKey) || len(e.rows()) != 0 {
		t.Errorf("unknown app_key: %v, %d rows; want ErrUnknownAppKey and no row", out.Err, len(e.rows()))
	}
	req = e.request(idMatch, "张三", "selfie")
	req.Sign = strings.Repeat("0", 32)
	out := e.svc.Verify(ctx, req)
	if !errors.Is(out.Err, sign.ErrSignature) || e.faces.probes.Load() != 0 {
		t.Errorf("bad signature: %v (probes %d)", out.Err, e.faces.probes.Load())
	}
	if row, n := e.rowOf(req.TraceID); n != 1 || row.Code != "1000" || row.Charged {
		t.Errorf("bad signature row: %+v (%d)", row, n)
	}
	// Invalid ID number is checked after the policy: a frozen merchant with a
	// bad ID number learns it is frozen first.
	if _, err := e.merch.Update(ctx, e.key, func(s *merchant.Settings) { s.Status = store.StatusFrozen }); err != nil {
		t.Fatal(err)
	}
	req = e.request("110101199003071234", "张三", "selfie")
	if out := e.svc.Verify(ctx, req); !errors.Is(out.Err, merchant.ErrFrozen) {
		t.Errorf("frozen: %v", out.Err)
	}
}

func TestReplay(t *testing.T) {
	e := newEnv(t, func(s *merchant.Settings) { s.QPS, s.Burst, s.FreeQuota = 0.001, 1, 5 })
	first := e.request(idMatch, "张三", "selfie")
	out1 := e.svc.Verify(ctx, first)
	if out1.Err != nil || !out1.Charged {
		t.Fatalf("first call: %+v", out1)
	}
	// The bucket (burst 1, almost no refill) is now empty: a replay must not
	// need a token, nor quota, nor the face pipeline.
	retry := first
	retry.TraceID = "TID-of-the-retry"
	retry.Timestamp = strconv.FormatInt(time.Now().UnixMilli(), 10)
	e.sign(&retry)
	probes := e.faces.probes.Load()
	for range 3 {
		out := e.svc.Verify(ctx, retry)
		if out.TraceID != out1.TraceID || out.Data != out1.Data || out.Charged != out1.Charged || out.Err != nil {
			t.Errorf("replay %+v, want the first answer %+v", out, out1)
		}
	}
	if e.faces.probes.Load() != probes {
		t.Error("a replay ran the face pipeline")
	}
	if rows := e.rows(); len(rows) != 1 {
		t.Errorf("%d ledger rows after replays, want 1", len(rows))
	}
	if m, _ := e.db.GetMerchant(ctx, e.key); m.QuotaUsed != 1 {
		t.Errorf("quota use %d after replays, want 1 (billed once)", m.QuotaUsed)
	}
	// Same request_id, other content: 1002 with a row of its own. Each is
	// a new call, signed anew: the same sign with another selfie is refused
	// before the request_id is looked at.
	for i, edit := range []func(*verify.Request){
		func(r *verify.Request) { r.Selfie = []byte("other selfie") },
		func(r *verify.Request) { r.Name = "李四" },
		func(r *verify.Request) { r.IDNumber = idNoPhoto },
	} {
		reuse := retry
		reuse.TraceID = fmt.Sprintf("TID-reuse-%d", e.seq.Add(1))
		reuse.Timestamp = strconv.FormatInt(time.Now().UnixMilli()+int64(i+1), 10)
		edit(&reuse)
		e.sign(&reuse)
		if out := e.svc.Verify(ctx, reuse); !errors.Is(out.Err, verify.ErrRequestIDReused) || out.TraceID != reuse.TraceID {
			t.Errorf("reuse: %+v, want ErrRequestIDReused under its own trace id", out)
		}
		if row, n := e.rowOf(reuse.TraceID); n != 1 || row.Code != "1002" {
			t.Errorf("reuse row: %+v (%d)", row, n)
		}
	}
}

func TestErrorsAreNotRemembered(t *testing.T) {
	e := newEnv(t, nil)
	e.source.err = errors.New("down")
	req := e.request(idMatch, "张三", "selfie")
	if out := e.svc.Verify(ctx, req); !errors.Is(out.Err, identity.ErrUnavailable) {
		t.Fatalf("first: %v", out.Err)
	}
	e.source.err = nil
	retry := req
	retry.TraceID = "TID-retry"
	out := e.svc.Verify(ctx, retry)
	if out.Err != nil || out.TraceID != "TID-retry" || out.Data.Photo != protocol.PhotoCompared {
		t.Errorf("retry after an error: %+v, want a fresh run", out)
	}
}

func TestConcurrentDuplicateWaitsForFirst(t *testing.T) {
	e := newEnv(t, nil)
	req := e.request(idMatch, "张三", "BLOCK")
	var wg sync.WaitGroup
	outs := make([]verify.Outcome, 4)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := req
			r.TraceID = fmt.Sprintf("TID-%d", i)
			outs[i] = e.svc.Verify(ctx, r)
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(e.faces.unblock)
	wg.Wait()
	for i, o := range outs {
		if o.Err != nil || o.TraceID != outs[0].TraceID || o.Data != outs[0].Data {
			t.Errorf("call %d: %+v, want %+v", i, o, outs[0])
		}
	}
	if rows := e.rows(); len(rows) != 1 || e.faces.probes.Load() != 1 {
		t.Errorf("%d rows, %d probes; want 1 and 1", len(rows), e.faces.probes.Load())
	}
}

func TestQuotaExactUnderConcurrency(t *testing.T) {
	const quota = 17
	e := newEnv(t, func(s *merchant.Settings) { s.FreeQuota = quota })
	var charged, exhausted atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := e.svc.Verify(ctx, e.request(idMatch, "张三", "selfie"))
			switch {
			case out.Err == nil && out.Charged:
				charged.Add(1)
			case errors.Is(out.Err, merchant.ErrQuotaExhausted):
				exhausted.Add(1)
			default:
				t.Errorf("unexpected outcome %+v", out)
			}
		}()
	}
	wg.Wait()
	m, _ := e.db.GetMerchant(ctx, e.key)
	var rowsCharged int
	for _, r := range e.rows() {
		if r.Charged {
			rowsCharged++
		}
	}
	if charged.Load() != quota || exhausted.Load() != 50-quota || m.QuotaUsed != quota || rowsCharged != quota {
		t.Errorf("charged %d, refused %d, stored use %d, charged rows %d; want %d, %d, %d, %d",
			charged.Load(), exhausted.Load(), m.QuotaUsed, rowsCharged, quota, 50-quota, quota, quota)
	}
}

// TestQuotaSpentElsewhere: another process charges the last free call after
// this one admitted the request; the store refuses the charge and the call
// answers 1007, uncharged, with its row.
func TestQuotaSpentElsewhere(t *testing.T) {
	e := newEnv(t, func(s *merchant.Settings) { s.FreeQuota = 1 })
	warm := e.request(idMatch, "张三", "Q:dark") // loads the account, uncharged
	if out := e.svc.Verify(ctx, warm); out.Err != nil || out.Charged {
		t.Fatalf("warm-up: %+v", out)
	}
	other := store.LedgerRow{TraceID: "TID-other-process", AppKey: e.key, RequestID: "x", Code: "0000", Result: 1, Charged: true, Time: time.Now()}
	if errs, err := e.db.AppendLedger(ctx, []store.LedgerRow{other}); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	req := e.request(idMatch, "张三", "selfie")
	out := e.svc.Verify(ctx, req)
	if !errors.Is(out.Err, merchant.ErrQuotaExhausted) || out.Charged {
		t.Fatalf("outcome %+v, want ErrQuotaExhausted uncharged", out)
	}
	if row, n := e.rowOf(req.TraceID); n != 1 || row.Charged || row.Code != "1007" {
		t.Errorf("row %+v (%d), want one uncharged 1007 row", row, n)
	}
	if out := e.svc.Verify(ctx, e.request(idMatch, "张三", "selfie")); !errors.Is(out.Err, merchant.ErrQuotaExhausted) {
		t.Errorf("next call: %v, want refused at admission", out.Err)
	}
}

func TestRateLimited(t *testing.T) {
	e := newEnv(t, func(s *merchant.Settings) { s.QPS, s.Burst = 0.001, 2 })
	var codes []string
	for range 3 {
		codes = append(codes, codeOf(e.svc.Verify(ctx, e.request(idMatch, "张三", "selfie")).Err))
	}
	if strings.Join(codes, ",") != "0000,0000,1006" {
		t.Errorf("codes %v, want 0000,0000,1006", codes)
	}
}

package app_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/internal/testkit"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/sign"
	"github.com/portrait-id/portrait/store"
)

// signed is one call's fields as a merchant signed them; an attacker who
// captured it may rearrange them but not sign anew.
type signed struct {
	appKey, requestID, id, name, ts, sign string
	selfie                                []byte
}

func newSigned(appKey, secret, requestID, id, name string, selfie []byte) signed {
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	return signed{appKey, requestID, id, name, ts, sign.Compute(appKey, id, name, requestID, ts, secret), selfie}
}

func (c signed) post(t *testing.T, srv *httptest.Server) response {
	t.Helper()
	form := url.Values{
		"app_key": {c.appKey}, "request_id": {c.requestID}, "id_number": {c.id}, "name": {c.name},
		"timestamp": {c.ts}, "sign": {c.sign}, "selfie_base64": {base64.StdEncoding.EncodeToString(c.selfie)},
	}
	resp, err := http.PostForm(srv.URL+"/api/identity/portrait_verification", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

// shop opens the service on stub faces with one merchant and one
// registered identity per name given.
func shop(t *testing.T, cfg app.Config, people map[string]string) (*app.App, *httptest.Server, merchant.Created) {
	t.Helper()
	cfg.Notices = io.Discard
	if cfg.DB == "" {
		cfg.DB = filepath.Join(t.TempDir(), "p.db")
	}
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	a, err := app.OpenWith(ctx, cfg, app.Seams{Faces: stubFaces{}, Enroller: stubFaces{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	m, err := a.Merchants.Create(ctx, merchant.NewSettings("shop"))
	if err != nil {
		t.Fatal(err)
	}
	for id, name := range people {
		if _, err := a.Registry.Add(ctx, id, name, []byte("photo")); err != nil {
			t.Fatal(err)
		}
	}
	return a, srv, m
}

const idLatin = "110101199003077512"

// The attacks of issue 12 item 4: from one captured, signed call an
// attacker moves characters across the unsigned boundaries between fields,
// or sends it again with their own selfie. Each must be refused, not run as
// a new charged call; the merchant's own retry still replays its answer.
func TestSignedFieldShifting(t *testing.T) {
	a, srv, m := shop(t, app.Config{}, map[string]string{idMatch: "张三", idLatin: "John Smith"})
	key, secret := m.Merchant.AppKey, m.Secret
	victim := []byte("the merchant's customer")
	attacker := []byte("the attacker's face")

	han := newSigned(key, secret, "order-10", idMatch, "张三", victim)
	latin := newSigned(key, secret, "h7", idLatin, "John Smith", victim)
	first := han.post(t, srv)
	if first.Code != "0000" || first.Charge != 1 {
		t.Fatalf("the merchant's call: %+v", first)
	}
	if r := latin.post(t, srv); r.Code != "0000" || r.Charge != 1 {
		t.Fatalf("the merchant's call: %+v", r)
	}

	shifted := func(c signed, edit func(*signed)) signed { edit(&c); return c }
	attacks := []struct {
		name    string
		call    signed
		wantMsg string
	}{
		{"request_id's trailing 0 moved into the timestamp", shifted(han, func(c *signed) {
			c.requestID, c.ts = "order-1", "0"+c.ts
		}), "请求参数错误: timestamp must be milliseconds since 1970-01-01T00:00:00Z"},
		{"name's last character moved into the request_id", shifted(han, func(c *signed) {
			c.name, c.requestID = "张", "三order-10"
		}), "请求参数错误: request_id may hold only 0-9, A-Z, a-z, _ and -"},
		{"request_id's first character moved into the name", shifted(han, func(c *signed) {
			c.name, c.requestID = "张三o", "rder-10"
		}), "请求参数错误: sign already used for another request"},
		{"Latin name's last letter moved into the request_id", shifted(latin, func(c *signed) {
			c.name, c.requestID = "John Smit", "hh7"
		}), "请求参数错误: sign already used for another request"},
		{"ID number's check digit moved into the name", shifted(han, func(c *signed) {
			c.id, c.name = idMatch[:17], idMatch[17:]+c.name
		}), "请求参数错误: sign already used for another request"},
		{"the same call with the attacker's selfie", shifted(han, func(c *signed) {
			c.selfie = attacker
		}), "请求参数错误: sign already used for another request"},
		{"the sign in uppercase with the attacker's selfie", shifted(han, func(c *signed) {
			c.sign, c.selfie = strings.ToUpper(c.sign), attacker
		}), "请求参数错误: sign already used for another request"},
	}
	for _, at := range attacks {
		r := at.call.post(t, srv)
		if r.Code != "1002" || r.Msg != at.wantMsg || r.Charge != 2 {
			t.Errorf("%s: %+v, want 1002 %q, uncharged", at.name, r, at.wantMsg)
		}
	}
	// The merchant's own retry, byte for byte, is still its idempotent replay.
	if again := han.post(t, srv); again.TraceID != first.TraceID || again.Charge != 1 {
		t.Errorf("retry %+v, want the first answer %+v", again, first)
	}
	if n := charged(t, a, key); n != 2 {
		t.Errorf("%d charged calls, want the merchant's 2", n)
	}
}

func charged(t *testing.T, a *app.App, key string) int {
	t.Helper()
	rows, err := a.Store.ListLedger(ctx, store.LedgerFilter{AppKey: key})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, row := range rows {
		if row.Charged {
			n++
		}
	}
	return n
}

// With several instances the sign a shifted copy reuses was accepted on
// another one: Redis shares what each has accepted.
func TestSignReuseAcrossInstances(t *testing.T) {
	url := testRedis(t)
	db := filepath.Join(t.TempDir(), "p.db")
	a1, a2 := openOnRedis(t, db, url, 0), openOnRedis(t, db, url, 0)
	m, err := a1.Merchants.Create(ctx, merchant.NewSettings("shared"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a1.Registry.Add(ctx, idMatch, "张三", []byte("photo")); err != nil {
		t.Fatal(err)
	}
	s1, s2 := httptest.NewServer(a1.Handler()), httptest.NewServer(a2.Handler())
	defer s1.Close()
	defer s2.Close()
	c := newSigned(m.Merchant.AppKey, m.Secret, "order-1", idMatch, "张三", []byte("selfie"))
	if r := c.post(t, s1); r.Code != "0000" {
		t.Fatalf("first call: %+v", r)
	}
	c.name, c.requestID = "张三o", "rder-1"
	if r := c.post(t, s2); r.Code != "1002" || !strings.Contains(r.Msg, "sign already used") {
		t.Errorf("shifted copy on the other instance: %+v", r)
	}
}

// Failed authentications cost a bounded number of ledger rows and log
// records (issue 12 item 3): past each app_key's and each source's budget
// they are answered the same but leave nothing behind.
func TestFailedAuthenticationBudget(t *testing.T) {
	logs := &testkit.SyncBuffer{}
	a, srv, m := shop(t, app.Config{Logger: slog.New(slog.NewJSONHandler(logs, nil))}, nil)
	long := strings.Repeat("r", 64)
	const calls = 200
	start := time.Now()
	for i := range calls {
		c := newSigned(m.Merchant.AppKey, "wrong", long[:60]+strconv.Itoa(1000+i), idMatch, "张三", []byte("s"))
		if r := c.post(t, srv); r.Code != "1000" {
			t.Fatalf("call %d: %+v, want 1000 throughout", i, r)
		}
	}
	rows, err := a.Store.ListLedger(ctx, store.LedgerFilter{AppKey: m.Merchant.AppKey})
	if err != nil {
		t.Fatal(err)
	}
	// The per-key burst, and what refills during the test.
	keyRefill := int(merchant.FailuresPerKeyRate*time.Since(start).Seconds()) + 2
	if len(rows) < merchant.FailuresPerKeyBurst || len(rows) > merchant.FailuresPerKeyBurst+keyRefill {
		t.Errorf("%d ledger rows for %d bad signatures, want about %d", len(rows), calls, merchant.FailuresPerKeyBurst)
	}
	records := strings.Count(logs.String(), "\n")
	if records > merchant.FailuresPerKeyBurst+keyRefill {
		t.Errorf("%d log records for %d bad signatures", records, calls)
	}

	// Unknown app_keys: no ledger rows ever, log records within the
	// source's budget.
	before := records
	for i := range calls {
		c := newSigned("pk_nobody"+strconv.Itoa(i), "x", "r", idMatch, "张三", []byte("s"))
		if r := c.post(t, srv); r.Code != "1009" {
			t.Fatalf("call %d: %+v, want 1009 throughout", i, r)
		}
	}
	// The source (127.0.0.1) spent 30 of its 60 on the bad signatures.
	// What the source's budget refilled since the first bad signature.
	srcRefill := int(merchant.FailuresPerSourceRate*time.Since(start).Seconds()) + 2
	if n := strings.Count(logs.String(), "\n") - before; n > merchant.FailuresPerSourceBurst-merchant.FailuresPerKeyBurst+srcRefill {
		t.Errorf("%d log records for %d unknown app_keys", n, calls)
	}

	// Malformed calls (a 3 MB request_id, refused at parse) draw from the
	// same, now spent, budget of the source.
	before = strings.Count(logs.String(), "\n")
	start = time.Now()
	for range 20 {
		c := newSigned(m.Merchant.AppKey, m.Secret, strings.Repeat("r", 3<<20-1000), idMatch, "张三", []byte("s"))
		if r := c.post(t, srv); r.Code != "1002" {
			t.Fatalf("%+v, want 1002 throughout", r)
		}
	}
	// 3 MB bodies are slow to post under -race: what the source's budget
	// refilled meanwhile may log, nothing more.
	refilled := int(merchant.FailuresPerSourceRate*time.Since(start).Seconds()) + 2
	if n := strings.Count(logs.String(), "\n") - before; n > refilled {
		t.Errorf("%d log records for 20 malformed calls past the budget (refilled %d)", n, refilled)
	}

	// A merchant that signs correctly is not held back by the failures.
	good := newSigned(m.Merchant.AppKey, m.Secret, "ok-1", idMatch, "张三", []byte("s"))
	if r := good.post(t, srv); r.Code == "1000" || r.Code == "1006" {
		t.Errorf("a correctly signed call after the failures: %+v", r)
	}
}

// Spellings of a registered name that a person would call the same name
// match it, over HTTP, and are charged as the match they are (issue 12
// item 6: they answered id_name 2, charged). Records stored before names
// were normalised match too.
func TestNameSpellingsMatch(t *testing.T) {
	const idLegacy = "110101199003071233"
	a, srv, m := shop(t, app.Config{}, map[string]string{idMatch: "买买提·艾力", idLatin: "John Smith"})
	// As an older version stored it: not normalised.
	if err := a.Store.PutIdentity(ctx, store.Identity{IDNumber: idLegacy, Name: "阿依古丽 • 买买提", TemplateStatus: store.TemplateNone, Sealed: true}); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct{ id, name string }{
		{idMatch, "买买提•艾力"},
		{idMatch, "买买提・艾力"},
		{idMatch, "买买提･艾力"},
		{idMatch, "买买提 · 艾力"},
		{idLatin, "JOHN SMITH"},
		{idLatin, "john  smith"},
		{idLatin, "Ｊｏｈｎ　Ｓｍｉｔｈ"},
		{idLegacy, "阿依古丽·买买提"},
	} {
		r := post(t, srv, m.Merchant.AppKey, m.Secret, "n"+strconv.Itoa(i), c.id, c.name, []byte("s"))
		if r.Code != "0000" || !strings.Contains(string(r.Data), `"id_name":1`) {
			t.Errorf("%q against the registered name: %+v %s", c.name, r, r.Data)
		}
	}
	r := post(t, srv, m.Merchant.AppKey, m.Secret, "other", idMatch, "买买提·艾尔", []byte("s"))
	if !strings.Contains(string(r.Data), `"id_name":2`) {
		t.Errorf("another name matched: %s", r.Data)
	}
	rec, err := a.Registry.Get(ctx, idLatin)
	if err != nil || rec.Name != "JOHN SMITH" {
		t.Errorf("stored name %q, %v; want the normalised form", rec.Name, err)
	}
}

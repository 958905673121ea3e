package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/idcard"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/internal/testkit"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/protocol"
	"github.com/portrait-id/portrait/sign"
	"github.com/portrait-id/portrait/verify"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fakeVerifier answers a fixed Outcome and remembers what it was asked; the
// domain is tested in its own packages and end to end in e2e.
type fakeVerifier struct {
	mu    sync.Mutex
	out   verify.Outcome
	calls []verify.Request
}

func (f *fakeVerifier) Verify(_ context.Context, req verify.Request) verify.Outcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, req)
	return f.out
}

func (f *fakeVerifier) last(t *testing.T) verify.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		t.Fatal("verifier was not called")
	}
	return f.calls[len(f.calls)-1]
}

type fixture struct {
	srv  *httptest.Server
	fake *fakeVerifier
	logs *testkit.SyncBuffer
}

func newFixture(t *testing.T, out verify.Outcome) *fixture {
	t.Helper()
	f := &fixture{fake: &fakeVerifier{out: out}, logs: &testkit.SyncBuffer{}}
	logger := slog.New(slog.NewJSONHandler(f.logs, nil))
	f.srv = httptest.NewServer(NewHandler(f.fake, Options{Logger: logger}))
	t.Cleanup(f.srv.Close)
	return f
}

// post sends body to the API with the given Content-Type ("" for none).
func (f *fixture) post(t *testing.T, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+Path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// A well-formed call; tests change what they are about.
var (
	testSelfie = []byte("\xff\xd8\xff\xe0 not really a JPEG, the fake verifier does not look")
	testParams = client.Params{
		AppKey:    "ak_test",
		RequestID: "0123456789abcdef0123456789abcdef",
		IDNumber:  "110101199003077512",
		Name:      "张三",
		Timestamp: "1732668400000",
		Sign:      "af68161bf2773b4881fd142acaa33df2",
		Selfie:    testSelfie,
	}
)

// checkGolden compares an answer with testdata/golden/name.json, trace_id
// normalised, after checking the trace_id's form.
func checkGolden(t *testing.T, name string, body []byte) {
	t.Helper()
	got := testkit.MaskTraceID(t, body)
	testkit.Golden(t, filepath.Join("testdata", "golden", name+".json"), got, *update, "go test ./api -update")
}

func checkEnvelopeHeaders(t *testing.T, res *http.Response, status int) {
	t.Helper()
	if res.StatusCode != status {
		t.Errorf("HTTP status %d, want %d", res.StatusCode, status)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
}

// Every code of the document's table and every shape of data, through real
// HTTP, against golden files.
func TestOutcomeGolden(t *testing.T) {
	tests := []struct {
		golden string
		out    verify.Outcome
	}{
		{"0000_score", verify.Outcome{Charged: true, Data: verify.Data{Result: 1, IDName: 1, Photo: 1, Score: 87.534999}}},
		{"0000_score_integer", verify.Outcome{Charged: true, Data: verify.Data{Result: 1, IDName: 1, Photo: 1, Score: 50}}},
		{"0000_score_zero", verify.Outcome{Charged: true, Data: verify.Data{Result: 1, IDName: 1, Photo: 1, Score: 0}}},
		{"0000_score_hundred", verify.Outcome{Charged: true, Data: verify.Data{Result: 1, IDName: 1, Photo: 1, Score: 99.999}}},
		{"0000_no_photo", verify.Outcome{Charged: true, Data: verify.Data{Result: 1, IDName: 1, Photo: 2, Score: 12}}},
		{"0000_photo_feature_failed", verify.Outcome{Charged: true, Data: verify.Data{Result: 1, IDName: 1, Photo: 3}}},
		{"0000_name_mismatch", verify.Outcome{Charged: true, Data: verify.Data{Result: 1, IDName: 2, Photo: 1, Score: 70}}},
		{"0000_bad_quality", verify.Outcome{Data: verify.Data{Result: 2, Reason: string(face.ReasonBlur)}}},
		{"0000_bad_quality_no_reason", verify.Outcome{Data: verify.Data{Result: 2}}},
		{"1000", verify.Outcome{Err: fmt.Errorf("merchant ak_test: %w", protocol.Wrap(protocol.CodeSignature, "", sign.ErrSignature))}},
		{"1002_timestamp_format", verify.Outcome{Err: protocol.Wrap(protocol.CodeParameter, "timestamp must be milliseconds since 1970-01-01T00:00:00Z", sign.ErrTimestampFormat)}},
		{"1002_id_checksum", verify.Outcome{Err: protocol.Wrap(protocol.CodeParameter, "id_number checksum", &idcard.RuleError{Rule: "id_number checksum"})}},
		{"1002_request_id_reused", verify.Outcome{Err: fmt.Errorf("replay: %w", verify.ErrRequestIDReused)}},
		{"1002_image", verify.Outcome{Err: protocol.Wrap(protocol.CodeParameter, "selfie not a JPG, PNG, BMP, GIF or TIFF file", face.ErrImage)}},
		{"1003", verify.Outcome{Err: merchant.ErrFrozen}},
		{"1004", verify.Outcome{Err: merchant.ErrDisabled}},
		{"1005", verify.Outcome{Err: merchant.ErrExpired}},
		{"1006", verify.Outcome{Err: merchant.ErrRateLimited}},
		{"1006_id_daily_limit", verify.Outcome{Err: fmt.Errorf("identity lookup: %w", merchant.ErrIDDailyLimit)}},
		{"1007", verify.Outcome{Err: merchant.ErrQuotaExhausted}},
		{"1008", verify.Outcome{Err: merchant.ErrNotGranted}},
		{"1009", verify.Outcome{Err: fmt.Errorf("lookup ak_test: %w", merchant.ErrUnknownAppKey)}},
		{"1010", verify.Outcome{Err: protocol.Wrap(protocol.CodeRequestExpired, "", fmt.Errorf("timestamp off by 6m: %w", sign.ErrExpired))}},
		{"2000", verify.Outcome{Err: fmt.Errorf("registry: %w", identity.ErrUnavailable)}},
		{"9999", verify.Outcome{Err: errors.New("sqlite: database is locked at /var/lib/portrait.db")}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			f := newFixture(t, tt.out)
			res, body := f.post(t, "application/x-www-form-urlencoded", client.FormBody(testParams))
			checkEnvelopeHeaders(t, res, http.StatusOK)
			checkGolden(t, tt.golden, body)
			got, err := client.ParseResponse(body)
			if err != nil {
				t.Fatal(err)
			}
			if wantCharge := got.Code == client.CodeOK && got.Data.Result == 1; got.Charged() != wantCharge {
				t.Errorf("charge %d breaks the document's rule for %s", got.Charge, body)
			}
		})
	}
}

// A parse failure is answered by the api layer itself; the verifier never
// sees it.
func TestParseFailureGolden(t *testing.T) {
	gbk := testParams
	gbk.Name = "\xd5\xc5\xc8\xfd" // 张三 in GBK
	missing := testParams
	missing.Name = ""
	tests := []struct {
		golden string
		body   []byte
	}{
		{"1001_gbk_name", client.FormBody(gbk)},
		{"1002_missing_name", client.FormBody(missing)},
		{"1002_bad_base64", []byte(strings.Replace(string(client.FormBody(testParams)), "selfie_base64=", "selfie_base64=%21%21%21", 1))},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			f := newFixture(t, verify.Outcome{Err: errors.New("verifier must not be called")})
			res, body := f.post(t, "application/x-www-form-urlencoded", tt.body)
			checkEnvelopeHeaders(t, res, http.StatusOK)
			checkGolden(t, tt.golden, body)
			if len(f.fake.calls) != 0 {
				t.Error("verifier called for a call that failed to parse")
			}
		})
	}
}

func TestOutsideTheAPI(t *testing.T) {
	f := newFixture(t, verify.Outcome{})
	tests := []struct {
		golden, method, path string
		status               int
	}{
		{"405_get", http.MethodGet, Path, http.StatusMethodNotAllowed},
		{"404_unknown_path", http.MethodPost, "/api/identity/other", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, f.srv.URL+tt.path, nil)
			res, body := do(t, req)
			checkEnvelopeHeaders(t, res, tt.status)
			checkGolden(t, tt.golden, body)
		})
	}
}

// A replay answers with the first call's trace_id, which the domain returns;
// a fresh call gets the one the handler minted and passed down.
func TestTraceID(t *testing.T) {
	const first = "TID0123456789abcdef0123456789abcdef"
	f := newFixture(t, verify.Outcome{TraceID: first, Charged: true, Data: verify.Data{Result: 1, IDName: 2}})
	_, body := f.post(t, "", client.FormBody(testParams))
	if got, _ := client.ParseResponse(body); got.TraceID != first {
		t.Errorf("replayed trace_id %q, want %q", got.TraceID, first)
	}

	f = newFixture(t, verify.Outcome{Charged: true, Data: verify.Data{Result: 1, IDName: 2}})
	seen := map[string]bool{}
	for range 3 {
		_, body := f.post(t, "", client.FormBody(testParams))
		got, _ := client.ParseResponse(body)
		if got.TraceID != f.fake.last(t).TraceID {
			t.Errorf("answer trace_id %q is not the one passed to the verifier %q", got.TraceID, f.fake.last(t).TraceID)
		}
		if seen[got.TraceID] {
			t.Errorf("trace_id %q reused", got.TraceID)
		}
		seen[got.TraceID] = true
	}
}

func TestLogsAreMasked(t *testing.T) {
	minority := testParams
	minority.Name = "买买提·艾力"
	f := newFixture(t, verify.Outcome{Err: errors.New("boom")})
	f.post(t, "", client.FormBody(minority))
	logs := f.logs.String()
	for _, secret := range []string{minority.IDNumber, minority.Name, "艾力", base64.StdEncoding.EncodeToString(testSelfie)[:16]} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds %q: %s", secret, logs)
		}
	}
	for _, want := range []string{`"id_number":"110101********7512"`, `"name":"买*"`, `"code":"9999"`, `"trace_id":"TID`, `"latency_ms":`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s: %s", want, logs)
		}
	}
}

// The request the verifier receives, for each way clients send a body.
func TestBodyVariants(t *testing.T) {
	std := base64.StdEncoding.EncodeToString(testSelfie)
	if !strings.ContainsAny(std, "+/") {
		t.Fatal("test selfie must exercise the alphabets' differences")
	}
	urlSafe := base64.URLEncoding.EncodeToString(testSelfie)
	raw := func(pairs ...string) []byte { return []byte(strings.Join(pairs, "&")) }
	javaStyle := func(selfie string) []byte {
		// As the document's Java sample sends it: nothing percent-encoded.
		return raw("app_key=ak_test", "request_id="+testParams.RequestID, "name=张三",
			"id_number="+testParams.IDNumber, "timestamp="+testParams.Timestamp,
			"selfie_base64="+selfie, "sign="+testParams.Sign)
	}
	multi, multiType := client.MultipartBody(testParams)
	both := multipartOf(t, map[string]string{
		"app_key": "ak_test", "request_id": testParams.RequestID, "id_number": testParams.IDNumber,
		"name": "张三", "timestamp": testParams.Timestamp, "sign": testParams.Sign,
		"selfie_base64": std,
	}, []byte("the file loses to selfie_base64"))

	tests := []struct {
		name, contentType string
		body              []byte
		wantName          string
	}{
		{"sdk form", "application/x-www-form-urlencoded", client.FormBody(testParams), "张三"},
		{"java url-safe base64, raw utf-8 name", "application/x-www-form-urlencoded", javaStyle(urlSafe), "张三"},
		{"no content type", "", javaStyle(urlSafe), "张三"},
		{"wrong content type", "text/plain", javaStyle(urlSafe), "张三"},
		{"standard base64 unescaped: + read as space", "application/x-www-form-urlencoded", javaStyle(std), "张三"},
		{"url-safe without padding", "", javaStyle(strings.TrimRight(urlSafe, "=")), "张三"},
		{"data: prefix", "", javaStyle("data:image/jpeg;base64," + url.QueryEscape(std)), "张三"},
		{"line-wrapped base64", "", javaStyle(url.QueryEscape(std[:20] + "\r\n" + std[20:])), "张三"},
		{"percent-encoded name", "", raw("app_key=ak_test", "request_id="+testParams.RequestID,
			"name=%E5%BC%A0%E4%B8%89", "id_number="+testParams.IDNumber, "timestamp="+testParams.Timestamp,
			"selfie_base64="+urlSafe, "sign="+testParams.Sign), "张三"},
		{"stray percent kept", "", raw("app_key=ak_test", "request_id="+testParams.RequestID,
			"name=100%_ok%zz", "id_number="+testParams.IDNumber, "timestamp="+testParams.Timestamp,
			"selfie_base64="+urlSafe, "sign="+testParams.Sign), "100%_ok%zz"},
		{"minority name", "", raw("app_key=ak_test", "request_id="+testParams.RequestID,
			"name=买买提·艾力", "id_number="+testParams.IDNumber, "timestamp="+testParams.Timestamp,
			"selfie_base64="+urlSafe, "sign="+testParams.Sign), "买买提·艾力"},
		{"repeated field: first wins", "", append(javaStyle(urlSafe), "&name=李四"...), "张三"},
		{"multipart file", multiType, multi, "张三"},
		{"multipart both: base64 wins", both.contentType, both.body, "张三"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, verify.Outcome{Charged: true, Data: verify.Data{Result: 1, IDName: 2}})
			_, body := f.post(t, tt.contentType, tt.body)
			if got, err := client.ParseResponse(body); err != nil || got.Code != client.CodeOK {
				t.Fatalf("answer %s, %v", body, err)
			}
			got := f.fake.last(t)
			want := verify.Request{
				TraceID: got.TraceID, Received: got.Received, Source: got.Source,
				AppKey: "ak_test", RequestID: testParams.RequestID, IDNumber: testParams.IDNumber,
				Name: tt.wantName, Timestamp: testParams.Timestamp, Sign: testParams.Sign,
				Service: merchant.ServicePortrait,
				Signed:  []string{"ak_test", testParams.IDNumber, tt.wantName, testParams.RequestID, testParams.Timestamp},
			}
			if !bytes.Equal(got.Selfie, testSelfie) {
				t.Errorf("selfie %q, want %q", got.Selfie, testSelfie)
			}
			got.Selfie = nil
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("request\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

type builtBody struct {
	body        []byte
	contentType string
}

func multipartOf(t *testing.T, fields map[string]string, file []byte) builtBody {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		w, err := mw.CreateFormFile("selfie_file", "selfie.jpg")
		if err != nil {
			t.Fatal(err)
		}
		w.Write(file)
	}
	mw.Close()
	return builtBody{buf.Bytes(), mw.FormDataContentType()}
}

// Each parse failure answers 1002 or 1001 with the problem named.
func TestParseFailures(t *testing.T) {
	var cases []struct {
		name, contentType string
		body              []byte
		wantMsg           string
	}
	add := func(name, contentType string, body []byte, wantMsg string) {
		cases = append(cases, struct {
			name, contentType string
			body              []byte
			wantMsg           string
		}{name, contentType, body, wantMsg})
	}
	for _, field := range []string{"app_key", "request_id", "id_number", "name", "timestamp", "sign"} {
		v := url.Values{}
		for k, val := range map[string]string{"app_key": "k", "request_id": "r", "id_number": "i", "name": "n", "timestamp": "1", "sign": "s", "selfie_base64": "AAAA"} {
			if k != field {
				v.Set(k, val)
			}
		}
		add("missing "+field, "", []byte(v.Encode()), "请求参数错误: missing "+field)
		v.Set(field, "")
		add("empty "+field, "", []byte(v.Encode()), "请求参数错误: missing "+field)
	}
	const goodSign = "af68161bf2773b4881fd142acaa33df2"
	noSelfie := url.Values{"app_key": {"k"}, "request_id": {"r"}, "id_number": {"i"}, "name": {"n"}, "timestamp": {"1"}, "sign": {goodSign}}
	// Each field's bounds, in the order they are checked.
	bounds := []struct{ name, field, value, wantMsg string }{
		{"app_key too long", "app_key", strings.Repeat("k", MaxTokenLength+1), "请求参数错误: app_key longer than 64 characters"},
		{"app_key alphabet", "app_key", "pk_1 OR 1=1", "请求参数错误: app_key may hold only 0-9, A-Z, a-z, _ and -"},
		{"request_id of 3 MB", "request_id", strings.Repeat("r", 3<<20-1000), "请求参数错误: request_id longer than 64 characters"},
		{"request_id holding a name", "request_id", "r张三", "请求参数错误: request_id may hold only 0-9, A-Z, a-z, _ and -"},
		{"request_id with a dot", "request_id", "order.1", "请求参数错误: request_id may hold only 0-9, A-Z, a-z, _ and -"},
		{"id_number too long", "id_number", "1101011990030775120", "请求参数错误: id_number length"},
		{"name too long", "name", strings.Repeat("王", 86), "请求参数错误: name length"},
		{"timestamp with a leading zero", "timestamp", "01732668400000", "请求参数错误: timestamp must be milliseconds since 1970-01-01T00:00:00Z"},
		{"timestamp too long", "timestamp", strings.Repeat("1", 20), "请求参数错误: timestamp must be milliseconds since 1970-01-01T00:00:00Z"},
		{"sign short", "sign", goodSign[:31], "请求参数错误: sign must be 32 hex digits"},
		{"sign not hex", "sign", "zz" + goodSign[2:], "请求参数错误: sign must be 32 hex digits"},
	}
	for _, b := range bounds {
		v := url.Values{"selfie_base64": {"AAAA"}}
		for k, val := range noSelfie {
			v[k] = val
		}
		v.Set(b.field, b.value)
		add(b.name, "", []byte(v.Encode()), b.wantMsg)
	}
	add("missing selfie", "", []byte(noSelfie.Encode()), "请求参数错误: missing selfie_base64 or selfie_file")
	add("empty body", "", nil, "请求参数错误: missing app_key")
	gbkFirst := "name=%D5%C5%C8%FD&" + noSelfie.Encode()
	add("gbk name before anything is missing", "", []byte(gbkFirst), "参数非 UTF-8 编码: name")
	add("raw gbk name", "", []byte("name=\xd5\xc5\xc8\xfd&"+noSelfie.Encode()), "参数非 UTF-8 编码: name")
	add("bad base64", "", []byte(noSelfie.Encode()+"&selfie_base64=AAAAA"), "请求参数错误: selfie_base64 not base64")
	add("data URL not base64", "", []byte(noSelfie.Encode()+"&selfie_base64=data:image/png,AAAA"), "请求参数错误: selfie_base64 data URL not base64")
	add("base64 of nothing", "", []byte(noSelfie.Encode()+"&selfie_base64=%3D%3D%3D%3D"), "请求参数错误: selfie_base64 empty")
	big := make([]byte, MaxSelfieBytes+1)
	add("decoded selfie over 2 MiB", "", []byte(noSelfie.Encode()+"&selfie_base64="+base64.RawURLEncoding.EncodeToString(big)), "请求参数错误: selfie over 2 MB")
	bigFile := multipartOf(t, map[string]string{"app_key": "k"}, big)
	add("multipart file over 2 MiB", bigFile.contentType, bigFile.body, "请求参数错误: selfie over 2 MB")
	add("multipart without boundary", "multipart/form-data", []byte("x"), "请求参数错误: multipart body without boundary")
	add("multipart truncated", "multipart/form-data; boundary=xyz", []byte("--xyz\r\nContent-Disposition: form-data; name=\"app_key\"\r\n\r\nk"), "请求参数错误: malformed multipart body")
	longField := multipartOf(t, map[string]string{"name": strings.Repeat("王", 2000)}, nil)
	add("multipart field too long", longField.contentType, longField.body, "请求参数错误: name too long")

	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, verify.Outcome{})
			res, body := f.post(t, tt.contentType, tt.body)
			checkEnvelopeHeaders(t, res, http.StatusOK)
			got, err := client.ParseResponse(body)
			if err != nil {
				t.Fatal(err)
			}
			if got.Msg != tt.wantMsg || got.Charge != client.ChargeNo || got.Data != nil {
				t.Errorf("answer %s, want msg %q, charge 2, no data", body, tt.wantMsg)
			}
			if len(f.fake.calls) != 0 {
				t.Error("verifier called")
			}
		})
	}
}

// An exactly-2-MiB selfie is accepted, in either body form.
func TestSelfieAtTheLimit(t *testing.T) {
	p := testParams
	p.Selfie = bytes.Repeat([]byte{0xab}, MaxSelfieBytes)
	multi, multiType := client.MultipartBody(p)
	for _, b := range []builtBody{{client.FormBody(p), "application/x-www-form-urlencoded"}, {multi, multiType}} {
		f := newFixture(t, verify.Outcome{Data: verify.Data{Result: 2}})
		_, body := f.post(t, b.contentType, b.body)
		if got, _ := client.ParseResponse(body); got == nil || got.Code != client.CodeOK {
			t.Fatalf("%s: answer %s", b.contentType, body)
		}
		if n := len(f.fake.last(t).Selfie); n != MaxSelfieBytes {
			t.Errorf("%s: selfie of %d bytes", b.contentType, n)
		}
	}
}

// What a hostile body holds never reaches the log or the caller's msg
// unbounded or verbatim: a multipart header line quoting an ID number and
// name, a 3 MB request_id (issue 12, items 3 and 11).
func TestHostileBodiesStayOutOfLogs(t *testing.T) {
	const id, name = "110101199003077512", "张三丰"
	leak := []byte("--b\r\nContent-Disposition: form-data; name=\"app_key\"\r\n" + id + " " + name + "\r\n\r\nk\r\n--b--\r\n")
	f := newFixture(t, verify.Outcome{})
	_, body := f.post(t, "multipart/form-data; boundary=b", leak)
	if bytes.Contains(body, []byte(id)) || bytes.Contains(body, []byte(name)) {
		t.Errorf("answer echoes the body: %s", body)
	}
	if logs := f.logs.String(); strings.Contains(logs, id) || strings.Contains(logs, name) {
		t.Errorf("log echoes the body: %s", logs)
	}

	long := url.Values{"app_key": {strings.Repeat("k", 1<<20)}, "request_id": {strings.Repeat("r", 2<<20)},
		"id_number": {"i"}, "name": {"n"}, "timestamp": {"1"}, "sign": {"s"}, "selfie_base64": {"AAAA"}}
	f = newFixture(t, verify.Outcome{})
	for range 20 {
		f.post(t, "", []byte(long.Encode()))
	}
	if n := len(f.logs.String()); n > 20*1024 {
		t.Errorf("20 calls logged %d bytes", n)
	}
}

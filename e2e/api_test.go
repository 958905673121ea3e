package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"math"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/internal/testkit"
	"github.com/portrait-id/portrait/sign"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var scorePattern = regexp.MustCompile(`"score":[0-9]+(\.[0-9]{1,2})?([,}])`)

// checkGolden compares an answer with testdata/golden/name.json, with the
// trace_id (after checking its form) and the score's value normalised: the
// score's value is checked against the pipeline's own by the tests.
func checkGolden(t *testing.T, name string, raw []byte) {
	t.Helper()
	got := testkit.MaskTraceID(t, raw)
	got = scorePattern.ReplaceAll(got, []byte(`"score":"<0..100, at most 2 decimals>"$2`))
	testkit.Golden(t, filepath.Join("testdata", "golden", name+".json"), got, *update, "go test ./e2e -update")
}

// checkCharge asserts the document's rule: charged exactly when 0000 with
// result 1.
func checkCharge(t *testing.T, r *client.Response) {
	t.Helper()
	if want := r.Code == client.CodeOK && r.Data != nil && r.Data.Result == client.ResultFound; r.Charged() != want {
		t.Errorf("charge %d breaks the rule for %s", r.Charge, r.Raw)
	}
}

// checkScore asserts that the service answered the score the pipeline
// gives the same photos, rounded to 2 decimals, and its band.
func checkScore(t *testing.T, r *client.Response, want float64, wantErr error) {
	t.Helper()
	if wantErr != nil {
		t.Fatalf("the pipeline itself cannot score these photos: %v", wantErr)
	}
	if math.Abs(r.Data.Score-want) > 0.0051 {
		t.Errorf("score %v, want the pipeline's %.4f", r.Data.Score, want)
	}
	band := client.BandDifferent
	switch {
	case want >= 60:
		band = client.BandSame
	case want >= 40:
		band = client.BandUncertain
	}
	if r.Band() != band {
		t.Errorf("band %q for score %v", r.Band(), r.Data.Score)
	}
}

// call is one request to the live service.
type call struct {
	name       string
	needsFaces bool
	do         func(t *testing.T, w *world) *client.Response
	want       client.Code
	check      func(t *testing.T, w *world, r *client.Response)
}

// sdk sends one call as a merchant through the SDK.
func sdk(c func(w *world) creds, req client.Request, opts ...client.Option) func(t *testing.T, w *world) *client.Response {
	return func(t *testing.T, w *world) *client.Response {
		t.Helper()
		r, err := c(w).client(w, opts...).Verify(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

func mainM(w *world) creds { return w.main }

// noFaceCall sends, as the merchant c, a call on the registered holder
// with a selfie that has no face (the selfie is not what these calls test).
func noFaceCall(c func(w *world) creds, opts ...client.Option) func(t *testing.T, w *world) *client.Response {
	return func(t *testing.T, w *world) *client.Response {
		t.Helper()
		return sdk(c, client.Request{IDNumber: idWithPhoto, Name: nameWithPhoto, Selfie: w.noFacePNG}, opts...)(t, w)
	}
}

// Every code of the document that a live service can be brought to answer,
// and every data shape, against golden files; 9999 (an internal failure)
// is covered by package api's tests.
func TestCodesAndShapes(t *testing.T) {
	w := getWorld(t)
	t.Logf("faces: %s (same person %.2f, other %.2f)", w.faces.source, w.faces.sameScore, w.faces.otherScore)
	selfie := func() []byte { return w.faces.same }
	calls := []call{
		{name: "0000_same_person", needsFaces: true,
			do: func(t *testing.T, w *world) *client.Response {
				return sdk(mainM, client.Request{IDNumber: idWithPhoto, Name: nameWithPhoto, Selfie: selfie()})(t, w)
			},
			want: client.CodeOK,
			check: func(t *testing.T, w *world, r *client.Response) {
				checkScore(t, r, w.faces.sameScore, w.faces.sameScoreErr)
			}},
		{name: "0000_same_person_multipart", needsFaces: true,
			do: func(t *testing.T, w *world) *client.Response {
				return sdk(mainM, client.Request{IDNumber: idWithPhoto, Name: nameWithPhoto, Selfie: selfie(), UseMultipart: true})(t, w)
			},
			want: client.CodeOK,
			check: func(t *testing.T, w *world, r *client.Response) {
				checkScore(t, r, w.faces.sameScore, w.faces.sameScoreErr)
			}},
		{name: "0000_other_person", needsFaces: true,
			do: func(t *testing.T, w *world) *client.Response {
				if w.faces.other == nil {
					t.Skip("no other person's photo passes the gate")
				}
				return sdk(mainM, client.Request{IDNumber: idWithPhoto, Name: nameWithPhoto, Selfie: w.faces.other})(t, w)
			},
			want: client.CodeOK,
			check: func(t *testing.T, w *world, r *client.Response) {
				checkScore(t, r, w.faces.otherScore, w.faces.otherScoreErr)
			}},
		{name: "0000_no_photo", needsFaces: true,
			do: func(t *testing.T, w *world) *client.Response {
				return sdk(mainM, client.Request{IDNumber: idNoPhoto, Name: nameNoPhoto, Selfie: selfie()})(t, w)
			},
			want: client.CodeOK},
		{name: "0000_photo_without_face", needsFaces: true,
			do: func(t *testing.T, w *world) *client.Response {
				return sdk(mainM, client.Request{IDNumber: idNoFace, Name: nameNoFace, Selfie: selfie()})(t, w)
			},
			want: client.CodeOK},
		{name: "0000_name_mismatch", needsFaces: true,
			do: func(t *testing.T, w *world) *client.Response {
				return sdk(mainM, client.Request{IDNumber: idWithPhoto, Name: "张四", Selfie: selfie()})(t, w)
			},
			want: client.CodeOK},
		{name: "0000_unknown_id_number", needsFaces: true,
			do: func(t *testing.T, w *world) *client.Response {
				return sdk(mainM, client.Request{IDNumber: idUnknown, Name: nameWithPhoto, Selfie: selfie()})(t, w)
			},
			want: client.CodeOK},
		{name: "0000_bad_quality_no_face",
			do:   noFaceCall(mainM),
			want: client.CodeOK},
		{name: "1000_wrong_secret",
			do:   noFaceCall(func(w *world) creds { return creds{w.main.appKey, "not-the-secret"} }),
			want: client.CodeSignature},
		{name: "1000_frozen_merchant_wrong_secret",
			// A merchant's status is not revealed to a caller whose
			// signature is wrong.
			do:   noFaceCall(func(w *world) creds { return creds{w.frozen.appKey, "not-the-secret"} }),
			want: client.CodeSignature},
		{name: "1001_gbk_name",
			do: func(t *testing.T, w *world) *client.Response {
				p := w.main.client(w).Sign(client.Request{IDNumber: idWithPhoto, Name: "\xd5\xc5\xc8\xfd", Selfie: w.noFacePNG})
				return w.post(t, "application/x-www-form-urlencoded", client.FormBody(p))
			},
			want: client.CodeEncoding},
		{name: "1002_missing_sign",
			do: func(t *testing.T, w *world) *client.Response {
				p := w.main.client(w).Sign(client.Request{IDNumber: idWithPhoto, Name: nameWithPhoto, Selfie: w.noFacePNG})
				p.Sign = ""
				return w.post(t, "", client.FormBody(p))
			},
			want: client.CodeParameter},
		{name: "1002_id_checksum",
			do:   sdk(mainM, client.Request{IDNumber: idBadCheck, Name: nameWithPhoto, Selfie: []byte("x")}),
			want: client.CodeParameter},
		{name: "1002_not_an_image",
			do: func(t *testing.T, w *world) *client.Response {
				return sdk(mainM, client.Request{IDNumber: idWithPhoto, Name: nameWithPhoto, Selfie: w.notAnImage})(t, w)
			},
			want: client.CodeParameter},
		{name: "1002_timestamp_format",
			do: func(t *testing.T, w *world) *client.Response {
				p := w.main.client(w).Sign(client.Request{IDNumber: idWithPhoto, Name: nameWithPhoto, Selfie: w.noFacePNG})
				p.Timestamp = "2026-11-27T01:00:00Z"
				p.Sign = sign.Compute(p.AppKey, p.IDNumber, p.Name, p.RequestID, p.Timestamp, w.main.secret)
				return w.post(t, "", client.FormBody(p))
			},
			want: client.CodeParameter},
		{name: "1003_frozen",
			do:   noFaceCall(func(w *world) creds { return w.frozen }),
			want: client.CodeFrozen},
		{name: "1004_disabled",
			do:   noFaceCall(func(w *world) creds { return w.disabled }),
			want: client.CodeDisabled},
		{name: "1005_expired",
			do:   noFaceCall(func(w *world) creds { return w.expired }),
			want: client.CodeAccountExpired},
		{name: "1006_rate_limited",
			do: func(t *testing.T, w *world) *client.Response {
				// Burst 1: the first call takes the only token.
				slow := func(w *world) creds { return w.slow }
				first := sdk(slow, client.Request{IDNumber: idBadCheck, Name: nameWithPhoto, Selfie: []byte("x")})(t, w)
				if first.Code != client.CodeParameter {
					t.Errorf("first call %s", first.Raw)
				}
				return sdk(slow, client.Request{IDNumber: idBadCheck, Name: nameWithPhoto, Selfie: []byte("x")})(t, w)
			},
			want: client.CodeRateLimited},
		{name: "1007_quota_exhausted", needsFaces: true,
			do: func(t *testing.T, w *world) *client.Response {
				q := func(w *world) creds { return w.quota1 }
				first := sdk(q, client.Request{IDNumber: idWithPhoto, Name: "张四", Selfie: selfie()})(t, w)
				if !first.Charged() {
					t.Errorf("first call not charged: %s", first.Raw)
				}
				return sdk(q, client.Request{IDNumber: idWithPhoto, Name: "张四", Selfie: selfie()})(t, w)
			},
			want: client.CodeQuotaExhausted},
		{name: "1008_not_granted",
			do:   noFaceCall(func(w *world) creds { return w.notGranted }),
			want: client.CodeNotGranted},
		{name: "1009_unknown_app_key",
			do:   noFaceCall(func(w *world) creds { return creds{"pk_nobody", "x"} }),
			want: client.CodeAppKey},
		{name: "1010_request_expired",
			do: func(t *testing.T, w *world) *client.Response {
				old := func() time.Time { return time.Now().Add(-10 * time.Minute) }
				return sdk(mainM, client.Request{IDNumber: idWithPhoto, Name: nameWithPhoto, Selfie: w.noFacePNG}, client.WithClock(old))(t, w)
			},
			want: client.CodeRequestExpired},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if c.needsFaces {
				w.needFaces(t)
			}
			r := c.do(t, w)
			if r.Code != c.want {
				t.Fatalf("code %s, want %s: %s", r.Code, c.want, r.Raw)
			}
			checkCharge(t, r)
			checkGolden(t, c.name, r.Raw)
			if c.check != nil {
				c.check(t, w, r)
			}
		})
	}

	// What the server logged of all this: masked ID numbers and names only.
	logs := w.logs.String()
	for _, secret := range []string{idWithPhoto, idNoPhoto, nameWithPhoto, nameNoPhoto, "艾力", w.main.secret} {
		if strings.Contains(logs, secret) {
			t.Errorf("server log holds %q", secret)
		}
	}
	if !strings.Contains(logs, `"id_number":"110101********7512"`) {
		t.Errorf("server log lacks the masked ID number")
	}
}

// Raw bodies as clients in the wild send them reach the live service
// intact: the signature only verifies when every byte arrived as signed.
func TestRawBodies(t *testing.T) {
	w := getWorld(t)
	raw := func(p client.Params, selfie string) []byte {
		return []byte("app_key=" + p.AppKey + "&request_id=" + p.RequestID + "&name=" + p.Name +
			"&id_number=" + p.IDNumber + "&timestamp=" + p.Timestamp + "&selfie_base64=" + selfie + "&sign=" + p.Sign)
	}
	bodies := []struct {
		name  string
		build func(p client.Params) (body []byte, contentType string)
	}{
		{"java style: raw utf-8, url-safe base64, no content type", func(p client.Params) ([]byte, string) {
			return raw(p, base64.URLEncoding.EncodeToString(p.Selfie)), ""
		}},
		{"standard base64 with + unescaped", func(p client.Params) ([]byte, string) {
			return raw(p, base64.StdEncoding.EncodeToString(p.Selfie)), "application/x-www-form-urlencoded"
		}},
		{"data: prefix, percent-encoded", func(p client.Params) ([]byte, string) {
			return raw(p, url.QueryEscape("data:image/png;base64,"+base64.StdEncoding.EncodeToString(p.Selfie))), "text/plain"
		}},
		{"sdk form", func(p client.Params) ([]byte, string) {
			return client.FormBody(p), "application/x-www-form-urlencoded"
		}},
		{"sdk multipart", client.MultipartBody},
		{"uppercase sign", func(p client.Params) ([]byte, string) {
			p.Sign = strings.ToUpper(p.Sign)
			return client.FormBody(p), ""
		}},
	}
	for _, b := range bodies {
		t.Run(b.name, func(t *testing.T) {
			// A fresh request_id each: the same one would replay.
			p := w.main.client(w).Sign(client.Request{IDNumber: idNoPhoto, Name: nameNoPhoto, Selfie: w.noFacePNG})
			body, contentType := b.build(p)
			r := w.post(t, contentType, body)
			if r.Code != client.CodeOK || r.Data.Result != client.ResultBadQuality {
				t.Errorf("answer %s, want 0000 with result 2 (the selfie has no face)", r.Raw)
			}
			checkCharge(t, r)
		})
	}
}

// A retry with the same request_id and content gets the first answer back
// unchanged and is billed once; the same request_id with other content is
// 1002.
func TestReplay(t *testing.T) {
	w := getWorld(t)
	w.needFaces(t)
	c := w.main.client(w)
	req := client.Request{RequestID: client.NewRequestID(), IDNumber: idWithPhoto, Name: "张四", Selfie: w.faces.same}
	first, err := c.Verify(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Charged() {
		t.Fatalf("first call not charged: %s", first.Raw)
	}
	second, err := c.Verify(context.Background(), req) // newly signed, new timestamp
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Raw, second.Raw) {
		t.Errorf("replay answered\n%s\nnot\n%s", second.Raw, first.Raw)
	}
	multi := req
	multi.UseMultipart = true // the body's form does not matter, its content does
	if third, _ := c.Verify(context.Background(), multi); third == nil || !bytes.Equal(third.Raw, first.Raw) {
		t.Errorf("multipart replay answered %v", third)
	}
	rows := 0
	for _, row := range w.ledgerRows(t, w.main.appKey) {
		if row.TraceID == first.TraceID {
			rows++
			if !row.Charged || row.Code != "0000" || row.RequestID != req.RequestID {
				t.Errorf("ledger row %+v", row)
			}
		}
	}
	if rows != 1 {
		t.Errorf("%d ledger rows for the replayed trace_id, want 1", rows)
	}

	changed := req
	changed.Name = "张五"
	r, err := c.Verify(context.Background(), changed)
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != client.CodeParameter || r.TraceID == first.TraceID {
		t.Errorf("reused request_id answered %s", r.Raw)
	}
	checkGolden(t, "1002_request_id_reused", r.Raw)
}

// The service answers within the document's Java client's 3-second read
// timeout even at the largest selfie it accepts.
func TestLargestSelfie(t *testing.T) {
	w := getWorld(t)
	big := append(append([]byte{}, w.noFacePNG...), make([]byte, 2<<20-len(w.noFacePNG))...) // PNG ignores trailing bytes
	start := time.Now()
	r, err := w.main.client(w).Verify(context.Background(), client.Request{IDNumber: idNoPhoto, Name: nameNoPhoto, Selfie: big})
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != client.CodeOK {
		t.Errorf("2 MiB selfie answered %s", r.Raw)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s", d)
	}
	over := append(big, 0)
	r, _ = w.main.client(w).Verify(context.Background(), client.Request{IDNumber: idNoPhoto, Name: nameNoPhoto, Selfie: over})
	if r == nil || r.Code != client.CodeParameter || r.Msg != "请求参数错误: selfie over 2 MB" {
		t.Errorf("2 MiB + 1 byte answered %v", r)
	}
}

package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

var fixedNow = time.UnixMilli(1732668400000)

func TestSign(t *testing.T) {
	c := New("http://x", "K1", "S", WithClock(func() time.Time { return fixedNow }))
	p := c.Sign(Request{RequestID: "R1", IDNumber: "110101199003077513", Name: "张三"})
	// Same vector as package sign's test, computed with md5sum.
	if p.Sign != "af68161bf2773b4881fd142acaa33df2" || p.Timestamp != "1732668400000" {
		t.Errorf("signed %+v", p)
	}
	q := c.Sign(Request{IDNumber: "1", Name: "n"})
	r := c.Sign(Request{IDNumber: "1", Name: "n"})
	if len(q.RequestID) != 32 || q.RequestID == r.RequestID {
		t.Errorf("generated request_ids %q, %q", q.RequestID, r.RequestID)
	}
}

var params = Params{AppKey: "K1", RequestID: "R1", IDNumber: "110101199003077512", Name: "买买提·艾力",
	Timestamp: "1732668400000", Sign: "abc", Selfie: []byte{0xfb, 0xff, 0x00, '+', '/'}}

func TestFormBody(t *testing.T) {
	v, err := url.ParseQuery(string(FormBody(params)))
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"app_key": {"K1"}, "request_id": {"R1"}, "id_number": {"110101199003077512"},
		"name": {"买买提·艾力"}, "timestamp": {"1732668400000"}, "sign": {"abc"},
		"selfie_base64": {base64.StdEncoding.EncodeToString(params.Selfie)}}
	if v.Encode() != want.Encode() {
		t.Errorf("form %v, want %v", v, want)
	}
}

func TestMultipartBody(t *testing.T) {
	body, ct := MultipartBody(params)
	mt, ctp, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("Content-Type %q", ct)
	}
	form, err := multipart.NewReader(bytes.NewReader(body), ctp["boundary"]).ReadForm(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if form.Value["name"][0] != params.Name || form.Value["sign"][0] != "abc" || len(form.Value) != 6 {
		t.Errorf("fields %v", form.Value)
	}
	f, _ := form.File["selfie_file"][0].Open()
	got, _ := io.ReadAll(f)
	if !bytes.Equal(got, params.Selfie) {
		t.Errorf("file %x", got)
	}
}

func TestVerify(t *testing.T) {
	var gotType string
	var gotForm url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotType = r.Header.Get("Content-Type")
		if r.URL.Path != Path || r.Method != http.MethodPost {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		r.ParseMultipartForm(1 << 20)
		gotForm = r.Form
		w.Write([]byte(`{"trace_id":"TID1","code":"0000","msg":"调用成功","data":{"result":1,"id_name":1,"photo":1,"score":61.5},"charge":1}`))
	}))
	defer srv.Close()
	c := New(srv.URL+"/", "K1", "S")
	for _, multi := range []bool{false, true} {
		res, err := c.Verify(context.Background(), Request{IDNumber: "110101199003077512", Name: "张三", Selfie: []byte("img"), UseMultipart: multi})
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() || !res.Charged() || !res.SamePerson() || res.Data.Score != 61.5 || res.TraceID != "TID1" {
			t.Errorf("response %+v", res)
		}
		if wantType := map[bool]string{false: "application/x-www-form-urlencoded", true: "multipart/form-data"}[multi]; gotType[:len(wantType)] != wantType {
			t.Errorf("Content-Type %q", gotType)
		}
		if gotForm.Get("name") != "张三" || gotForm.Get("sign") == "" {
			t.Errorf("form %v", gotForm)
		}
	}
}

func TestVerifyNotTheAPI(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	defer srv.Close()
	if res, err := New(srv.URL, "K", "S").Verify(context.Background(), Request{}); err == nil {
		t.Errorf("got %+v from a non-API answer", res)
	}
}

func TestBand(t *testing.T) {
	tests := []struct {
		data *Data
		code Code
		want Band
	}{
		{&Data{Result: 1, IDName: 1, Photo: 1, Score: 60}, CodeOK, BandSame},
		{&Data{Result: 1, IDName: 1, Photo: 1, Score: 59.99}, CodeOK, BandUncertain},
		{&Data{Result: 1, IDName: 1, Photo: 1, Score: 40}, CodeOK, BandUncertain},
		{&Data{Result: 1, IDName: 1, Photo: 1, Score: 39.99}, CodeOK, BandDifferent},
		{&Data{Result: 1, IDName: 1, Photo: 1, Score: 0}, CodeOK, BandDifferent},
		{&Data{Result: 1, IDName: 1, Photo: 2}, CodeOK, BandNone},
		{&Data{Result: 1, IDName: 2}, CodeOK, BandNone},
		{&Data{Result: 2}, CodeOK, BandNone},
		{nil, CodeSignature, BandNone},
	}
	for _, tt := range tests {
		r := &Response{Code: tt.code, Data: tt.data}
		if got := r.Band(); got != tt.want {
			t.Errorf("Band(%+v) = %q, want %q", tt.data, got, tt.want)
		}
	}
}

func TestCodeMessage(t *testing.T) {
	if CodeParameter.Message() != "请求参数错误" || Code("4242").Message() != "其他错误" || Code("4242").Known() {
		t.Error("code texts")
	}
}

var update = flag.Bool("update", false, "rewrite the golden files")

// The bodies the SDK puts on the wire, against golden files (the multipart
// boundary, random per body, normalised).
func TestBodiesGolden(t *testing.T) {
	boundary := regexp.MustCompile(`[0-9a-f]{60}`)
	multi, ct := MultipartBody(params)
	tests := []struct {
		name string
		body []byte
	}{
		{"form.txt", FormBody(params)},
		{"multipart.txt", append([]byte(ct+"\n\n"), multi...)},
	}
	for _, tt := range tests {
		got := boundary.ReplaceAll(tt.body, []byte("BOUNDARY"))
		path := filepath.Join("testdata", "golden", tt.name)
		if *update {
			os.WriteFile(path, got, 0o644)
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, want)
		}
	}
}

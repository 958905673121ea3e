package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/portrait-id/portrait/sign"
)

// portrait verify against a stand-in server that checks the signature the way
// the service does and answers a canned envelope; the real service is driven
// through the same SDK in package e2e.
func TestVerifyCommand(t *testing.T) {
	const answer = `{"trace_id":"TID0123456789abcdef0123456789abcdef","code":"0000","msg":"调用成功","data":{"result":1,"id_name":1,"photo":1,"score":61.5},"charge":1}` + "\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseMultipartForm(1 << 20)
		f := r.Form
		want := sign.Compute(f.Get("app_key"), f.Get("id_number"), f.Get("name"), f.Get("request_id"), f.Get("timestamp"), "S3CRET")
		if !sign.Equal(want, f.Get("sign")) || f.Get("request_id") != "R-1" {
			w.Write([]byte(`{"trace_id":"TID0","code":"1000","msg":"验签失败","charge":2}`))
			return
		}
		w.Write([]byte(answer))
	}))
	defer srv.Close()
	selfie := filepath.Join(t.TempDir(), "selfie.jpg")
	os.WriteFile(selfie, []byte("jpeg"), 0o600)
	base := []string{"--url", srv.URL, "--app-key", "K", "--app-secret", "S3CRET", "--id-number", "110101199003077512",
		"--name", "张三", "--selfie", selfie, "--request-id", "R-1"}

	tests := []struct {
		name  string
		extra []string
		want  string
	}{
		{"json", []string{"--json"}, answer},
		{"multipart json", []string{"--multipart", "--json"}, answer},
		{"pretty", nil, "trace_id  TID0123456789abcdef0123456789abcdef\n" +
			"code      0000  调用成功\n" +
			"result    1  looked up\n" +
			"id_name   1  name matches the ID number\n" +
			"photo     1  compared\n" +
			"score     61.5  same person [60,100]\n" +
			"charge    1  charged\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := runVerify(context.Background(), append(base, tt.extra...), &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("printed\n%s\nwant\n%s", out.String(), tt.want)
			}
		})
	}

	var out bytes.Buffer
	if err := runVerify(context.Background(), []string{"--app-key", "K"}, &out); err == nil {
		t.Error("missing flags accepted")
	}
}

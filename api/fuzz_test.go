package api

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/internal/imagebomb"
)

// bombParams are testParams carrying a scan bomb as the selfie: the
// parsers pass its bytes on untouched, whatever they cost to decode.
var bombParams = func() client.Params {
	p := testParams
	p.Selfie = imagebomb.ProgressiveScans(64, 64, 65, true)
	return p
}()

func FuzzParseForm(f *testing.F) {
	f.Add(client.FormBody(testParams))
	f.Add(client.FormBody(bombParams))
	f.Add([]byte("app_key=k&name=张三&selfie_base64=ab+c/-_==&x=%zz%4"))
	f.Add([]byte("name=%D5%C5&&=&==&%"))
	f.Fuzz(func(t *testing.T, body []byte) {
		p := parseForm(body, verificationFields)
		if err := p.check(verificationFields); err != nil {
			return
		}
		for _, field := range verificationFields.required {
			if v := p.text[field]; len(v) == 0 || !utf8.Valid(v) {
				t.Fatalf("%s = %q passed the check", field, v)
			}
		}
		for _, field := range []string{fieldAppKey, fieldRequestID} {
			if v := p.text[field]; len(v) > MaxTokenLength || token(field, v) != nil {
				t.Fatalf("%s = %q passed the check", field, v)
			}
		}
		if ts := string(p.text[fieldTimestamp]); ts[0] == '0' && len(ts) > 1 || len(ts) > 19 {
			t.Fatalf("timestamp %q passed the check", ts)
		}
		if len(p.text[fieldIDNumber]) > 18 || len(p.text[fieldName]) > maxNameBytes || len(p.text[fieldSign]) != 32 {
			t.Fatalf("oversized field passed the check: %q", p.text)
		}
		img, err := p.selfie()
		if err == nil && (len(img) == 0 || len(img) > MaxSelfieBytes) {
			t.Fatalf("selfie of %d bytes accepted", len(img))
		}
	})
}

// Whatever a value holds, escaping it as url.Values does and parsing it back
// gives it unchanged.
func FuzzUnescape(f *testing.F) {
	f.Add("张三 +%")
	f.Add("a=b&c")
	f.Fuzz(func(t *testing.T, s string) {
		if got := unescape([]byte(url.QueryEscape(s))); string(got) != s {
			t.Fatalf("unescape(QueryEscape(%q)) = %q", s, got)
		}
	})
}

func FuzzParseMultipart(f *testing.F) {
	for _, p := range []client.Params{testParams, bombParams} {
		body, ct := client.MultipartBody(p)
		f.Add(body, ct[strings.Index(ct, "boundary=")+len("boundary="):])
	}
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n张三\r\n--b--\r\n"), "b")
	f.Add([]byte("--b\r\n\r\n"), "b")
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		p, err := parseMultipart(bytes.NewReader(body), boundary, verificationFields)
		if err != nil {
			// The message reaches the log and the caller: it may name a
			// field, never repeat the body.
			if len(err.Error()) > 64 {
				t.Fatalf("error of %d bytes: %q", len(err.Error()), err)
			}
			return
		}
		if len(p.selfieFile) > MaxSelfieBytes {
			t.Fatalf("selfie_file of %d bytes accepted", len(p.selfieFile))
		}
		for name, v := range p.text {
			if !verificationFields.isText(name) || len(v) > MaxBodyBytes {
				t.Fatalf("kept field %q of %d bytes", name, len(v))
			}
		}
	})
}

// Every encoding a client may produce of some bytes decodes back to them;
// anything else decodes or fails without panicking.
func FuzzDecodeBase64(f *testing.F) {
	f.Add([]byte("\xff\xd8\xff\xe0\x00\x10JFIF"), []byte("data:image/jpeg;base64,/9j/4AAQ"))
	f.Add([]byte{}, []byte("===="))
	f.Add([]byte{0xfb, 0xff}, []byte("-_8 +/\r\n"))
	f.Fuzz(func(t *testing.T, data, arbitrary []byte) {
		decodeBase64(arbitrary)
		std := base64.StdEncoding.EncodeToString(data)
		variants := []string{
			std,
			base64.URLEncoding.EncodeToString(data),
			base64.RawStdEncoding.EncodeToString(data),
			base64.RawURLEncoding.EncodeToString(data),
			strings.ReplaceAll(std, "+", " "),
			"data:image/png;base64," + std,
			wrapLines(std, 76),
		}
		for _, v := range variants {
			got, err := decodeBase64([]byte(v))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("decodeBase64(%q) = %x, %v; want %x", v, got, err, data)
			}
		}
	})
}

func wrapLines(s string, width int) string {
	var b strings.Builder
	for len(s) > width {
		b.WriteString(s[:width] + "\r\n")
		s = s[width:]
	}
	b.WriteString(s)
	return b.String()
}

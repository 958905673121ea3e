package api

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/portrait-id/portrait/idcard"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/sign"
)

// Limits on what a call may carry. "2 MB" in the document is read as
// 2 MiB (2×1024×1024 bytes) of decoded image; the body limit leaves room for
// that image as base64 (≈2.67 MiB), some percent-encoding and the other
// fields, and applies to form and multipart bodies alike.
const (
	MaxSelfieBytes = 2 << 20
	MaxBodyBytes   = 3 << 20
)

// The parameters of a call, in the order a missing one is reported.
const (
	fieldAppKey    = "app_key"
	fieldRequestID = "request_id"
	fieldIDNumber  = "id_number"
	fieldName      = "name"
	fieldTimestamp = "timestamp"
	fieldSign      = "sign"
	fieldSelfieB64 = "selfie_base64"
	fieldSelfieRaw = "selfie_file"
)

// fields are the text parameters an endpoint's body carries and the bounds
// the parse layer enforces on them. Every endpoint's body also carries the
// selfie, as selfie_base64 or selfie_file.
type fields struct {
	required []string     // in the order a missing one is reported
	text     []string     // required and optional: those the parser keeps
	bounds   []fieldBound // in the order a breach is reported
}

// fieldBound is the shape the parse layer enforces on one field.
type fieldBound struct {
	field string
	check func([]byte) error
}

// verificationFields are the portrait verification's parameters.
var verificationFields = func() *fields {
	required := []string{fieldAppKey, fieldRequestID, fieldIDNumber, fieldName, fieldTimestamp, fieldSign}
	return &fields{required: required, text: append(required[:len(required):len(required)], fieldSelfieB64), bounds: verificationBounds}
}()

// isText reports whether name is one of f's text parameters.
func (f *fields) isText(name string) bool {
	for _, t := range f.text {
		if t == name {
			return true
		}
	}
	return false
}

// params is a call's parameters as received, before any check.
type params struct {
	text       map[string][]byte // by field name; the first occurrence wins
	selfieFile []byte
}

// selfie picks the image: selfie_base64 when it came non-empty (the
// document's precedence), else selfie_file.
func (p *params) selfie() ([]byte, error) {
	if b64 := p.text[fieldSelfieB64]; len(b64) > 0 {
		img, err := decodeBase64(b64)
		if err != nil {
			return nil, badParam("selfie_base64 " + err.Error())
		}
		if len(img) == 0 {
			return nil, badParam("selfie_base64 empty")
		}
		if len(img) > MaxSelfieBytes {
			return nil, badParam("selfie over 2 MB")
		}
		return img, nil
	}
	if len(p.selfieFile) == 0 {
		return nil, missingParam("selfie_base64 or selfie_file")
	}
	return p.selfieFile, nil
}

// check applies the parse layer's rules in the documented order: every text
// parameter UTF-8 (1001), then presence of each required one (1002), then
// each one's bounds (1002 naming it), so that nothing later — the log, the
// ledger, the signature check — ever holds a field larger than a real client
// sends.
func (p *params) check(fs *fields) error {
	for _, f := range fs.text {
		if !utf8.Valid(p.text[f]) {
			return notUTF8(f)
		}
	}
	for _, f := range fs.required {
		if len(p.text[f]) == 0 {
			return missingParam(f)
		}
	}
	for _, b := range fs.bounds {
		if err := b.check(p.text[b.field]); err != nil {
			return err
		}
	}
	return nil
}

// MaxTokenLength bounds app_key and request_id: app_keys are "pk_" and 24
// hex digits, and merchants' request_ids are UUIDs, order numbers or 32 hex
// digits.
const MaxTokenLength = 64

// maxNameBytes bounds a name as sent: idcard.MaxNameRunes characters of at
// most 4 bytes each. The character count is idcard's rule, checked on the
// normalised name.
const maxNameBytes = 4 * idcard.MaxNameRunes

// verificationBounds are the shapes the parse layer enforces on a
// verification. The ID number's and name's full rules are idcard's, checked
// after the signature; here only their size is bounded.
var verificationBounds = []fieldBound{
	{fieldAppKey, func(v []byte) error { return token(fieldAppKey, v) }},
	{fieldRequestID, func(v []byte) error { return token(fieldRequestID, v) }},
	{fieldIDNumber, func(v []byte) error {
		if len(v) > idcard.IDLength {
			return badParam("id_number length")
		}
		return nil
	}},
	{fieldName, func(v []byte) error {
		if len(v) > maxNameBytes {
			return badParam("name length")
		}
		return nil
	}},
	{fieldTimestamp, func(v []byte) error {
		if !sign.CanonicalTimestamp(string(v)) {
			return merchant.TimestampError(fmt.Errorf("timestamp of %d bytes: %w", len(v), sign.ErrTimestampFormat))
		}
		return nil
	}},
	{fieldSign, func(v []byte) error {
		if !sign.WellFormed(string(v)) {
			return badParam("sign must be 32 hex digits")
		}
		return nil
	}},
}

// token checks an app_key or request_id: 1–MaxTokenLength characters of
// [0-9A-Za-z_-]. The alphabet is also what keeps the unsigned boundary
// between name and request_id from moving: no character of a Chinese name or
// of a middle dot can pass from one to the other.
func token(field string, v []byte) error {
	if len(v) > MaxTokenLength {
		return badParam(fmt.Sprintf("%s longer than %d characters", field, MaxTokenLength))
	}
	for _, c := range v {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_' || c == '-') {
			return badParam(field + " may hold only 0-9, A-Z, a-z, _ and -")
		}
	}
	return nil
}

// readParams reads a call's body in either of the document's forms. Anything
// that is not multipart/form-data is read as a form body, whatever its
// Content-Type says: the document's Java client sets none.
func readParams(w http.ResponseWriter, r *http.Request, fs *fields) (*params, error) {
	if r.ContentLength > MaxBodyBytes {
		// Refuse before reading a byte of it.
		return nil, badParam("body over 3 MB")
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	mediaType, ctParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType == "multipart/form-data" {
		boundary := ctParams["boundary"]
		if boundary == "" {
			return nil, badParam("multipart body without boundary")
		}
		return parseMultipart(body, boundary, fs)
	}
	// Sized from the declared length, so that reading a body costs its
	// length and not the doubling of a growing buffer.
	buf := bytes.NewBuffer(make([]byte, 0, max(min(r.ContentLength, MaxBodyBytes), 0)+bytes.MinRead))
	if _, err := buf.ReadFrom(body); err != nil {
		return nil, bodyError(err)
	}
	raw := buf.Bytes()
	return parseForm(raw, fs), nil
}

func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return badParam("body over 3 MB")
	}
	return badParam("body unreadable")
}

// parseForm splits an application/x-www-form-urlencoded body tolerantly:
// clients in the wild send raw UTF-8 and raw base64 unescaped, so bytes
// that are not valid escapes pass through unchanged instead of failing the
// whole body as url.ParseQuery would.
func parseForm(body []byte, fs *fields) *params {
	p := &params{text: make(map[string][]byte, len(fs.text))}
	for len(body) > 0 {
		var pair []byte
		pair, body, _ = bytes.Cut(body, []byte("&"))
		key, value, _ := bytes.Cut(pair, []byte("="))
		name := string(unescape(key))
		if _, seen := p.text[name]; seen || !fs.isText(name) {
			continue
		}
		p.text[name] = unescape(value)
	}
	return p
}

// unescape decodes form escaping: "+" is a space and "%XY" a byte; a "%" not
// followed by two hex digits is kept as it is.
func unescape(s []byte) []byte {
	if bytes.IndexByte(s, '%') < 0 && bytes.IndexByte(s, '+') < 0 {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			out = append(out, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// maxFieldBytes bounds a multipart text field other than selfie_base64; real
// values are a few dozen bytes.
const maxFieldBytes = 4 << 10

// parseMultipart reads a multipart/form-data body. Parts are read one by one
// with their own limits instead of through Request.ParseMultipartForm, which
// would spill large parts to temporary files.
func parseMultipart(body io.Reader, boundary string, fs *fields) (*params, error) {
	p := &params{text: make(map[string][]byte, len(fs.text))}
	mr := multipart.NewReader(body, boundary)
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return nil, multipartError(err)
		}
		name := part.FormName()
		limit := int64(0)
		switch {
		case name == fieldSelfieRaw && p.selfieFile == nil:
			limit = MaxSelfieBytes
		case name == fieldSelfieB64:
			limit = MaxBodyBytes
		case fs.isText(name):
			limit = maxFieldBytes
		}
		if limit == 0 {
			continue // unknown or repeated: NextRawPart skips what is left of it
		}
		value, err := io.ReadAll(io.LimitReader(part, limit+1))
		if err != nil {
			return nil, multipartError(err)
		}
		if int64(len(value)) > limit {
			if name == fieldSelfieRaw {
				return nil, badParam("selfie over 2 MB")
			}
			return nil, badParam(name + " too long")
		}
		switch {
		case name == fieldSelfieRaw && p.selfieFile == nil:
			if len(value) == 0 {
				value = nil // an empty file counts as none
			}
			p.selfieFile = value
		default:
			if _, seen := p.text[name]; !seen {
				p.text[name] = value
			}
		}
	}
}

// multipartError never repeats mime/multipart's message: it quotes the
// offending header line, which may be any part of the body — ID number and
// name included — into the log and the caller's msg.
func multipartError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return bodyError(err)
	}
	return badParam("malformed multipart body")
}

// decodeBase64 decodes an image sent as base64 in any of the forms met in
// practice: standard or URL-safe alphabet, with or without padding, wrapped
// in lines, with "+" turned into a space by form decoding, and behind a
// data:image/...;base64, prefix the document forbids but browsers produce.
func decodeBase64(s []byte) ([]byte, error) {
	if len(s) > 5 && strings.EqualFold(string(s[:5]), "data:") {
		comma := bytes.IndexByte(s, ',')
		if comma < 0 || !bytes.HasSuffix(bytes.ToLower(s[:comma]), []byte(";base64")) {
			return nil, errors.New("data URL not base64")
		}
		s = s[comma+1:]
	}
	clean := make([]byte, 0, len(s))
	for _, c := range s {
		switch c {
		case ' ', '-':
			clean = append(clean, '+')
		case '_':
			clean = append(clean, '/')
		case '\r', '\n', '\t', '=':
			// Line breaks are layout; padding is implied by the length.
		default:
			clean = append(clean, c)
		}
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, err := base64.RawStdEncoding.Decode(out, clean)
	if err != nil {
		return nil, errors.New("not base64")
	}
	return out[:n], nil
}

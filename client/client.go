// Package client is the merchants' Go SDK for the portrait-verification API:
// it signs a call, builds its form or multipart body, sends it and decodes
// the document's response envelope into typed values.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portrait-id/portrait/sign"
)

// maxResponseBytes bounds what is read of an answer; envelopes are tiny.
const maxResponseBytes = 64 << 10

// Client calls the API for one merchant. It is safe for concurrent use.
type Client struct {
	endpoint  string
	appKey    string
	appSecret string
	http      *http.Client
	now       func() time.Time
}

// Option changes a Client's defaults.
type Option func(*Client)

// WithHTTPClient sends calls through hc instead of a client with a 10-second
// timeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithClock takes timestamps from now instead of the system clock.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// New returns a client for the service at baseURL (e.g.
// "http://127.0.0.1:8080") signing with the merchant's appKey and appSecret.
func New(baseURL, appKey, appSecret string, opts ...Option) *Client {
	c := &Client{
		endpoint:  strings.TrimRight(baseURL, "/") + Path,
		appKey:    appKey,
		appSecret: appSecret,
		http:      &http.Client{Timeout: 10 * time.Second},
		now:       time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Request is one verification to ask for.
type Request struct {
	RequestID    string // the merchant's serial number; a random one when empty
	IDNumber     string
	Name         string
	Selfie       []byte // the image file's bytes (JPG, PNG, BMP, GIF or TIFF, at most 2 MB)
	UseMultipart bool   // send the selfie as a multipart selfie_file instead of form selfie_base64
}

// Params are a call's parameters exactly as they go on the wire.
type Params struct {
	AppKey    string
	RequestID string
	IDNumber  string
	Name      string
	Timestamp string
	Sign      string
	Selfie    []byte
}

// Sign fills in the parameters of req: request_id if empty, the timestamp in
// milliseconds now, and the signature.
func (c *Client) Sign(req Request) Params {
	p := Params{
		AppKey:    c.appKey,
		RequestID: req.RequestID,
		IDNumber:  req.IDNumber,
		Name:      req.Name,
		Timestamp: strconv.FormatInt(c.now().UnixMilli(), 10),
		Selfie:    req.Selfie,
	}
	if p.RequestID == "" {
		p.RequestID = NewRequestID()
	}
	p.Sign = sign.Compute(p.AppKey, p.IDNumber, p.Name, p.RequestID, p.Timestamp, c.appSecret)
	return p
}

// NewRequestID returns 32 random lowercase hex digits, the shape of the
// document's sample (a UUID without dashes).
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return hex.EncodeToString(b[:])
}

// FormBody encodes p as an application/x-www-form-urlencoded body with the
// selfie in selfie_base64 (standard alphabet, percent-encoded).
func FormBody(p Params) []byte {
	v := url.Values{}
	p.each(func(k, val string) { v.Set(k, val) })
	v.Set("selfie_base64", base64.StdEncoding.EncodeToString(p.Selfie))
	return []byte(v.Encode())
}

// MultipartBody encodes p as a multipart/form-data body with the selfie in
// selfie_file, and returns the body's Content-Type.
func MultipartBody(p Params) (body []byte, contentType string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	// Writes to a bytes.Buffer cannot fail.
	p.each(func(k, val string) { mw.WriteField(k, val) })
	fw, _ := mw.CreateFormFile("selfie_file", "selfie")
	fw.Write(p.Selfie)
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

func (p Params) each(f func(k, v string)) {
	f("app_key", p.AppKey)
	f("request_id", p.RequestID)
	f("id_number", p.IDNumber)
	f("name", p.Name)
	f("timestamp", p.Timestamp)
	f("sign", p.Sign)
}

// Verify signs and sends req. The error is for calls that got no envelope
// back (network, timeout, not the API); every answer of the service,
// whatever its code, is a Response.
func (c *Client) Verify(ctx context.Context, req Request) (*Response, error) {
	p := c.Sign(req)
	body, contentType := FormBody(p), "application/x-www-form-urlencoded"
	if req.UseMultipart {
		body, contentType = MultipartBody(p)
	}
	return c.Send(ctx, body, contentType)
}

// Send posts a prepared body (see FormBody and MultipartBody) and decodes the
// answer; it is how a caller sends parameters it built or altered itself.
func (c *Client) Send(ctx context.Context, body []byte, contentType string) (*Response, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("portrait verify: %w", err)
	}
	if contentType != "" {
		hr.Header.Set("Content-Type", contentType)
	}
	res, err := c.http.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("portrait verify: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("portrait verify: read answer (HTTP %d): %w", res.StatusCode, err)
	}
	return ParseResponse(raw)
}

// ParseResponse decodes an envelope.
func ParseResponse(raw []byte) (*Response, error) {
	var r Response
	if err := json.Unmarshal(raw, &r); err != nil || r.Code == "" {
		return nil, fmt.Errorf("portrait verify: answer is not the API's envelope: %.200q", raw)
	}
	r.Raw = raw
	return &r, nil
}

// Response is the document's envelope.
type Response struct {
	TraceID string `json:"trace_id"`
	Code    Code   `json:"code"`
	Msg     string `json:"msg"`
	Data    *Data  `json:"data,omitempty"`
	Charge  int    `json:"charge"`
	Raw     []byte `json:"-"` // the answer as received
}

// Charged reports whether the call is billed (charge 1).
func (r *Response) Charged() bool { return r.Charge == ChargeYes }

// OK reports whether the call succeeded (code 0000) and so carries Data.
func (r *Response) OK() bool { return r.Code == CodeOK && r.Data != nil }

// SamePerson reports whether the service judged the selfie to show the
// registered person: ID and name match and the score is 60 or more.
func (r *Response) SamePerson() bool { return r.Band() == BandSame }

// Band is the document's reading of the score.
func (r *Response) Band() Band {
	if !r.OK() || r.Data.Result != ResultFound || r.Data.IDName != IDNameMatch || r.Data.Photo != PhotoCompared {
		return BandNone
	}
	switch s := r.Data.Score; {
	case s >= 60:
		return BandSame
	case s >= 40:
		return BandUncertain
	}
	return BandDifferent
}

// Band is a range of the score with the document's meaning.
type Band string

const (
	BandNone      Band = ""          // no score: an error, bad selfie, mismatch or no photo
	BandDifferent Band = "different" // [0,40): different people
	BandUncertain Band = "uncertain" // [40,60): cannot tell
	BandSame      Band = "same"      // [60,100]: the same person
)

// Data is the document's data object. IDName is set only when Result is 1,
// Photo only when IDName is 1, Score only when Photo is 1.
type Data struct {
	Result int     `json:"result"`
	IDName int     `json:"id_name,omitempty"`
	Photo  int     `json:"photo,omitempty"`
	Score  float64 `json:"score,omitempty"`
	Reason string  `json:"reason,omitempty"` // why a selfie failed the quality gate (result 2), e.g. "blur"
}

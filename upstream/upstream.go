// Package upstream makes another provider speaking the document's protocol
// (another portrait instance, or any supplier with this API) an identity
// source: it forwards a verification that passed the local checks, maps the
// upstream's answer into ours, and keeps the upstream's failures from
// becoming ours — timeouts, bounded retries, a circuit breaker, a cap on
// concurrent calls.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portrait-id/portrait/protocol"

	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/verify"
)

// Config is how to reach the upstream and how much to trust it.
type Config struct {
	URL       string // base URL, e.g. "https://supplier.example"; the API's path is appended
	AppKey    string // our account at the upstream
	AppSecret string

	// ConnectTimeout bounds each TCP (and TLS) connect. The document's
	// sample client gives up connecting to us after 1 s; we must fail over
	// to a 2000 well before that. Default 300 ms.
	ConnectTimeout time.Duration
	// ReadTimeout bounds the wait for the upstream's whole answer once
	// connected. The sample client reads from us for 3 s; our own decode,
	// quality gate and ledger need the rest. Default 2 s.
	ReadTimeout time.Duration
	// Retries is how many more attempts follow a connect failure (nothing
	// was sent, so a retry cannot double-bill). Default 1; negative: none.
	Retries int

	// MaxConcurrent caps calls in flight to the upstream; QueueWait is how
	// long a call waits for a slot before it is answered 2000. Defaults 32
	// and 100 ms: a short queue absorbs a burst, a long one would only move
	// the timeout from the upstream to us.
	MaxConcurrent int
	QueueWait     time.Duration

	// The breaker opens after BreakerFailures consecutive failed calls,
	// answers 2000 at once for BreakerCooldown, then lets one probe through:
	// success closes it, failure opens it again. Defaults 5 and 10 s.
	BreakerFailures int
	BreakerCooldown time.Duration

	// HTTPClient, when set, replaces the client built from the timeouts
	// above (tests, proxies, custom TLS).
	HTTPClient *http.Client
	// Now is the clock for signing and the breaker; time.Now when nil.
	Now func() time.Time
}

// The defaults, chosen as documented on Config's fields.
const (
	DefaultConnectTimeout  = 300 * time.Millisecond
	DefaultReadTimeout     = 2 * time.Second
	DefaultRetries         = 1
	DefaultMaxConcurrent   = 32
	DefaultQueueWait       = 100 * time.Millisecond
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = 10 * time.Second
)

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ConnectTimeout, DefaultConnectTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.QueueWait, DefaultQueueWait)
	def(&c.BreakerCooldown, DefaultBreakerCooldown)
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	c.Retries = max(c.Retries, 0)
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.BreakerFailures <= 0 {
		c.BreakerFailures = DefaultBreakerFailures
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Answer is the upstream's verdict, in our data's terms, and what the
// upstream billed us for it, so that the ledger can record both bills.
type Answer struct {
	Data    verify.Data
	TraceID string // the upstream's trace_id
	Charged bool   // the upstream's charge was 1
}

// Failure is an upstream call that produced no usable answer. It wraps
// identity.ErrUnavailable (our merchant gets 2000, uncharged) and keeps what
// the operator needs to chase it with the supplier; none of it is shown to
// our merchant.
type Failure struct {
	Code    client.Code // the upstream's code; empty when no envelope came back
	TraceID string      // the upstream's trace_id, when it answered
	// Charged is the upstream's charge: it may bill an answer we cannot
	// use (data breaking the document's shape), which the ledger records.
	Charged bool
	Msg     string // the upstream's msg, or what went wrong on our side
	cause   error
}

func (f *Failure) Error() string {
	s := "upstream"
	if f.Code != "" {
		s += fmt.Sprintf(" answered %s %q (trace_id %s)", f.Code, f.Msg, f.TraceID)
	} else {
		s += ": " + f.Msg
	}
	if f.cause != nil {
		s += ": " + f.cause.Error()
	}
	return s
}

// Unwrap lets errors.Is find identity.ErrUnavailable, and ErrBreakerOpen or
// ErrBusy when the call was never sent.
func (f *Failure) Unwrap() []error {
	if f.cause == nil {
		return []error{identity.ErrUnavailable}
	}
	return []error{identity.ErrUnavailable, f.cause}
}

// Why a call was answered 2000 without being sent.
var (
	ErrBreakerOpen = errors.New("circuit breaker open")
	ErrBusy        = errors.New("too many concurrent upstream calls")
)

// Client calls the upstream. It is safe for concurrent use.
type Client struct {
	cfg     Config
	sdk     *client.Client
	slots   chan struct{}
	breaker *breaker
}

// New checks cfg and returns a Client; it does not contact the upstream.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("upstream URL %q: want http(s)://host[:port]", cfg.URL)
	}
	if cfg.AppKey == "" || cfg.AppSecret == "" {
		return nil, errors.New("upstream app_key and app_secret are required")
	}
	cfg.setDefaults()
	hc := cfg.HTTPClient
	if hc == nil {
		hc = newHTTPClient(cfg)
	}
	return &Client{
		cfg:     cfg,
		sdk:     client.New(cfg.URL, cfg.AppKey, cfg.AppSecret, client.WithHTTPClient(hc), client.WithClock(cfg.Now)),
		slots:   make(chan struct{}, cfg.MaxConcurrent),
		breaker: newBreaker(cfg.BreakerFailures, cfg.BreakerCooldown, cfg.Now),
	}, nil
}

func newHTTPClient(cfg Config) *http.Client {
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   cfg.ConnectTimeout,
			ResponseHeaderTimeout: cfg.ReadTimeout,
			MaxConnsPerHost:       cfg.MaxConcurrent,
			MaxIdleConnsPerHost:   cfg.MaxConcurrent,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		// A supplier redirecting a signed POST is misconfigured; following
		// it would resend the selfie somewhere we did not choose.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Verify forwards q, whose selfie has already passed the local quality gate
// (so a bad selfie never costs an upstream call), and returns the
// upstream's answer, or an error: a *Failure (wrapping
// identity.ErrUnavailable) for everything that is not a well-formed 0000
// answer. The upstream call's request_id is q's trace_id's hex: unique per
// call, the same for its replays (so the upstream's own idempotency makes a
// retry safe), and the key that reconciles the upstream's bill with our
// ledger.
func (c *Client) Verify(ctx context.Context, q identity.Query) (Answer, error) {
	ok, probe := c.breaker.allow()
	if !ok {
		return Answer{}, &Failure{Msg: "not sent", cause: ErrBreakerOpen}
	}
	release, err := c.acquire(ctx)
	if err != nil {
		c.breaker.abandon(probe)
		return Answer{}, &Failure{Msg: "not sent", cause: err}
	}
	defer release()

	res, err := c.send(ctx, q)
	if err != nil {
		// Our caller giving up (its client hung up) says nothing about
		// the upstream.
		if ctx.Err() != nil {
			c.breaker.abandon(probe)
		} else {
			c.breaker.record(false, probe)
		}
		return Answer{}, err
	}
	ans, err := interpret(res)
	c.breaker.record(err == nil || !upstreamUnhealthy(res.Code), probe)
	return ans, err
}

// BreakerState is the circuit breaker's state: StateClosed, StateOpen or
// StateHalfOpen.
func (c *Client) BreakerState() string { return c.breaker.state() }

// acquire takes a concurrency slot, waiting at most QueueWait.
func (c *Client) acquire(ctx context.Context) (release func(), err error) {
	select {
	case c.slots <- struct{}{}:
		return func() { <-c.slots }, nil
	default:
	}
	t := time.NewTimer(c.cfg.QueueWait)
	defer t.Stop()
	select {
	case c.slots <- struct{}{}:
		return func() { <-c.slots }, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// send makes the call, retrying connect failures only: a request that never
// reached the upstream cannot have been billed, and the retry carries the
// same request_id anyway, which the protocol's idempotent replay makes safe.
func (c *Client) send(ctx context.Context, q identity.Query) (*client.Response, error) {
	req := client.Request{RequestID: strings.TrimPrefix(q.TraceID, "TID"), IDNumber: q.IDNumber, Name: q.Name, Selfie: q.Selfie, UseMultipart: true}
	var err error
	for attempt := 0; attempt <= c.cfg.Retries; attempt++ {
		var res *client.Response
		res, err = c.attempt(ctx, req)
		if err == nil {
			return res, nil
		}
		if !connectFailed(err) || ctx.Err() != nil {
			break
		}
	}
	return nil, &Failure{Msg: "no answer", cause: err}
}

func (c *Client) attempt(ctx context.Context, req client.Request) (*client.Response, error) {
	// The deadline covers the body too: ResponseHeaderTimeout alone would
	// let a trickling body hold the call past the merchant's patience.
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout+c.cfg.ReadTimeout)
	defer cancel()
	return c.sdk.Verify(ctx, req)
}

// connectFailed reports whether err happened before the request was sent.
func connectFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// upstreamUnhealthy reports whether an upstream code means calls will keep
// failing (server trouble, or our account there is unusable) — what the
// breaker counts — rather than one request it did not like.
func upstreamUnhealthy(code client.Code) bool {
	switch code {
	case client.CodeParameter, client.CodeEncoding:
		return false
	}
	return true
}

// interpret maps an envelope to our answer. Only a 0000 whose data follows
// the document's shape is an answer; everything else fails with the
// upstream's code kept for the operator:
//   - 1000–1010 but 1002 concern our account at the upstream (signature,
//     app_key, status, quota, rate): not our merchant's doing, so 2000;
//   - 1002/1001: the upstream refused a request our own checks accepted (its
//     image rules are stricter, or its ID rules differ). Our merchant cannot
//     fix what our published rules accept, so it is 2000 too, uncharged;
//     unlike the others it does not count against the upstream's health;
//   - 2000, 9999, unknown codes, malformed data: 2000.
func interpret(res *client.Response) (Answer, error) {
	fail := func(msg string) (Answer, error) {
		return Answer{}, &Failure{Code: res.Code, TraceID: res.TraceID, Charged: res.Charged(), Msg: msg}
	}
	if res.Code != client.CodeOK {
		return fail(res.Msg)
	}
	if res.Data == nil {
		return fail("0000 without data")
	}
	d, err := dataOf(*res.Data)
	if err != nil {
		return fail(err.Error())
	}
	return Answer{Data: d, TraceID: res.TraceID, Charged: res.Charged()}, nil
}

// dataOf checks the document's nesting (id_name only when result is 1,
// photo only when id_name is 1, score only when photo is 1, score within
// 0..100) and converts; an upstream breaking it is not to be believed.
func dataOf(in client.Data) (verify.Data, error) {
	d := verify.Data{Result: in.Result}
	switch in.Result {
	case protocol.ResultBadQuality:
		// Its quality gate is stricter than ours: the selfie is to be
		// retaken, as with our own result 2. Only our own tokens pass, so
		// merchants keep a stable vocabulary.
		if knownReason(in.Reason) {
			d.Reason = in.Reason
		}
		return d, nil
	case protocol.ResultFound:
	default:
		return d, fmt.Errorf("data.result %d", in.Result)
	}
	d.IDName = in.IDName
	switch in.IDName {
	case protocol.IDNameMismatch:
		return d, nil
	case protocol.IDNameMatch:
	default:
		return d, fmt.Errorf("data.id_name %d", in.IDName)
	}
	d.Photo = in.Photo
	switch in.Photo {
	case protocol.PhotoMissing, protocol.PhotoFeatureFailed:
		return d, nil
	case protocol.PhotoCompared:
	default:
		return d, fmt.Errorf("data.photo %d", in.Photo)
	}
	if !(in.Score >= 0 && in.Score <= 100) {
		return d, fmt.Errorf("data.score %v", in.Score)
	}
	d.Score = in.Score
	return d, nil
}

func knownReason(r string) bool {
	switch face.Reason(r) {
	case face.ReasonNoFace, face.ReasonMultipleFaces, face.ReasonFaceTooSmall, face.ReasonPose,
		face.ReasonBlur, face.ReasonDark, face.ReasonBacklit, face.ReasonOccluded:
		return true
	}
	return false
}

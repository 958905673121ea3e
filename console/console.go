// Package console is the operators' web console: server-rendered pages
// (html/template, assets embedded, nothing from elsewhere) over the
// merchant, ledger and identity domains, behind operator accounts with
// argon2id passwords, session cookies, a CSRF token on every form,
// rate-limited logins and an audit log of every action.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/metrics"
	"github.com/portrait-id/portrait/state"
	"github.com/portrait-id/portrait/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Cookie names. The __Host- prefix (under TLS) pins a cookie to this host
// and path /, so that no sibling subdomain can plant one.
const (
	sessionCookie = "portrait_session"
	loginCookie   = "portrait_login"
)

// SessionTTL is how long a sign-in lasts.
const SessionTTL = 12 * time.Hour

// Login attempts: a burst of 5, then one every 12 s, per client address
// and per operator name, so that neither one address nor many addresses
// against one name can guess at speed.
const (
	loginRate  = 1.0 / 12
	loginBurst = 5
)

// Config wires a Console.
type Config struct {
	Store     store.Store
	Merchants *merchant.Service
	Registry  *identity.Registry
	// Checks are the dependencies whose health the dashboard shows
	// (database, Redis, upstream).
	Checks []metrics.Check
	// Descriptor is the face descriptor the service enrols and compares
	// with: registry templates of another need re-embedding.
	Descriptor string
	// Secure marks cookies Secure (the console is served over TLS, or
	// behind a proxy that terminates it).
	Secure bool
	Logger *slog.Logger
}

// Console serves the console's pages.
type Console struct {
	cfg      Config
	accounts *Accounts
	pages    map[string]*template.Template
	mux      *http.ServeMux
	limiter  *state.Limiter
	now      func() time.Time
}

// New parses the pages and returns the console.
func New(cfg Config) (*Console, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	c := &Console{cfg: cfg, accounts: NewAccounts(cfg.Store), limiter: state.NewLimiter(),
		now: func() time.Time { return time.Now().UTC() }}
	var err error
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	m := http.NewServeMux()
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /login", c.loginPage)
	m.HandleFunc("POST /login", c.login)
	m.Handle("POST /logout", c.auth(c.logout))
	m.Handle("GET /{$}", c.auth(c.dashboard))
	m.Handle("GET /merchants", c.auth(c.merchantList))
	m.Handle("POST /merchants", c.auth(c.merchantCreate))
	m.Handle("GET /merchants/{key}", c.auth(c.merchantShow))
	m.Handle("POST /merchants/{key}", c.auth(c.merchantUpdate))
	m.Handle("POST /merchants/{key}/rotate", c.auth(c.merchantRotate))
	m.Handle("GET /ledger", c.auth(c.ledgerPage))
	m.Handle("GET /ledger.csv", c.auth(c.ledgerCSV))
	m.Handle("GET /registry", c.auth(c.registryPage))
	m.Handle("POST /registry", c.auth(c.registryAdd))
	m.Handle("POST /registry/find", c.auth(c.registryFind))
	m.Handle("POST /registry/remove", c.auth(c.registryRemove))
	m.Handle("GET /audit", c.auth(c.auditPage))
	m.Handle("GET /audit.csv", c.auth(c.auditCSV))
	c.mux = m
	return c, nil
}

// Accounts are the console's operator accounts.
func (c *Console) Accounts() *Accounts { return c.accounts }

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"maskID": maskID,
		"when":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
		"ms":     func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) },
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console page %s: %w", base, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// ServeHTTP answers with headers that keep the pages out of frames,
// caches and other origins' reach.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if !strings.HasPrefix(r.URL.Path, "/static/") {
		h.Set("Cache-Control", "no-store")
	}
	c.mux.ServeHTTP(w, r)
}

// request is what a signed-in page handler gets.
type request struct {
	*http.Request
	session store.Session
}

// view is what every page's template gets beside its own data.
type view struct {
	Title    string
	Nav      string
	Operator string
	CSRF     string
	Error    string
	Notice   string
	Data     any
}

func (c *Console) render(w http.ResponseWriter, status int, page string, v view) {
	t := c.pages[page]
	var buf strings.Builder
	if err := t.Execute(&buf, v); err != nil {
		c.cfg.Logger.Error("console render", slog.String("page", page), slog.String("error", err.Error()))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(buf.String()))
}

func (c *Console) cookieName(base string) string {
	if c.cfg.Secure {
		return "__Host-" + base
	}
	return base
}

func (c *Console) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: c.cookieName(name), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.cfg.Secure, SameSite: http.SameSiteStrictMode})
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// remote is the client's address (the host part), for the audit log and
// the login limit.
func remote(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// auth serves h to a signed-in operator, checking the CSRF token of every
// POST; anyone else is sent to the login page (or refused, for a POST).
func (c *Console) auth(h func(http.ResponseWriter, *request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.session(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "not signed in", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost {
			// Forms are small; only the registry's photo upload is larger.
			r.Body = http.MaxBytesReader(w, r.Body, 4<<20)
			if !sameToken(r.PostFormValue("csrf"), s.CSRF) {
				c.accounts.Audit(r.Context(), s.Operator, "csrf.refused", r.URL.Path, "", remote(r))
				http.Error(w, "the form's CSRF token is missing or wrong: reload the page", http.StatusForbidden)
				return
			}
		}
		h(w, &request{Request: r, session: s})
	})
}

func (c *Console) session(r *http.Request) (store.Session, bool) {
	ck, err := r.Cookie(c.cookieName(sessionCookie))
	if err != nil || ck.Value == "" {
		return store.Session{}, false
	}
	s, err := c.cfg.Store.GetSession(r.Context(), tokenHash(ck.Value))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			c.cfg.Logger.Error("console session", slog.String("error", err.Error()))
		}
		return store.Session{}, false
	}
	if !c.now().Before(s.ExpiresAt) {
		return store.Session{}, false
	}
	return s, true
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.renderLogin(w, http.StatusOK, "")
}

// renderLogin shows the login form with a fresh double-submit token: there
// is no session yet to hold one, so the form's token must match a cookie
// that another site can neither read nor set.
func (c *Console) renderLogin(w http.ResponseWriter, status int, msg string) {
	tok := randomToken()
	c.setCookie(w, loginCookie, tok, 3600)
	c.render(w, status, "login", view{Title: "Sign in", CSRF: tok, Error: msg})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ck, err := r.Cookie(c.cookieName(loginCookie))
	if err != nil || !sameToken(r.PostFormValue("csrf"), ck.Value) {
		http.Error(w, "the form's CSRF token is missing or wrong: reload the page", http.StatusForbidden)
		return
	}
	name, password := r.PostFormValue("name"), r.PostFormValue("password")
	// No valid name is longer, nor holds other bytes than ASCII: what is
	// typed must neither grow the limiter's keys and the audit log nor be
	// refused by a database that stores only valid UTF-8.
	name = strings.ReplaceAll(strings.ToValidUTF8(name[:min(len(name), 64)], "?"), "\x00", "?")
	ctx, addr := r.Context(), remote(r)
	now := c.now()
	// Both buckets are always charged, so that alternating names from one
	// address gains nothing.
	byAddr := c.limiter.Allow("addr:"+addr, loginRate, loginBurst, now)
	byName := c.limiter.Allow("name:"+name, loginRate, loginBurst, now)
	if !byAddr || !byName {
		c.accounts.Audit(ctx, name, "login.limited", "", "", addr)
		c.renderLogin(w, http.StatusTooManyRequests, ErrRateLimited.Error())
		return
	}
	if err := c.accounts.authenticate(ctx, name, password); err != nil {
		if errors.Is(err, ErrBadLogin) {
			c.accounts.Audit(ctx, name, "login.failed", "", "", addr)
			c.renderLogin(w, http.StatusUnauthorized, err.Error())
			return
		}
		c.fail(w, err)
		return
	}
	tok := randomToken()
	s := store.Session{TokenHash: tokenHash(tok), Operator: name, CSRF: randomToken(), CreatedAt: now, ExpiresAt: now.Add(SessionTTL)}
	if err := c.cfg.Store.CreateSession(ctx, s); err != nil {
		c.fail(w, err)
		return
	}
	c.accounts.Audit(ctx, name, "login", "", "", addr)
	c.setCookie(w, loginCookie, "", -1)
	c.setCookie(w, sessionCookie, tok, int(SessionTTL/time.Second))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *request) {
	if err := c.cfg.Store.DeleteSession(r.Context(), r.session.TokenHash); err != nil {
		c.fail(w, err)
		return
	}
	c.audit(r, "logout", "", "")
	c.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r.Request, "/login", http.StatusSeeOther)
}

// audit records a signed-in operator's action.
func (c *Console) audit(r *request, action, target, detail string) {
	if err := c.accounts.Audit(r.Context(), r.session.Operator, action, target, detail, remote(r.Request)); err != nil {
		c.cfg.Logger.Error("console audit", slog.String("action", action), slog.String("error", err.Error()))
	}
}

// fail answers an unexpected error without showing it (it can name hosts
// and users); the log has it.
func (c *Console) fail(w http.ResponseWriter, err error) {
	c.cfg.Logger.Error("console", slog.String("error", err.Error()))
	http.Error(w, "internal error (see the server's log)", http.StatusInternalServerError)
}

// page renders a signed-in page.
func (c *Console) page(w http.ResponseWriter, r *request, status int, page, title string, v view) {
	v.Title, v.Nav, v.Operator, v.CSRF = title, page, r.session.Operator, r.session.CSRF
	c.render(w, status, page, v)
}

// checkTimeout bounds the dashboard's health checks.
const checkTimeout = time.Second

type health struct {
	Name string
	OK   bool
}

func (c *Console) health(ctx context.Context) []health {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	out := make([]health, len(c.cfg.Checks))
	done := make(chan struct{}, len(c.cfg.Checks))
	for i, ch := range c.cfg.Checks {
		go func() {
			out[i] = health{Name: ch.Name, OK: ch.Fn(ctx) == nil}
			done <- struct{}{}
		}()
	}
	for range c.cfg.Checks {
		<-done
	}
	return out
}

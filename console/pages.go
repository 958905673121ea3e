package console

import (
	"cmp"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portrait-id/portrait/idcard"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/internal/safecsv"
	"github.com/portrait-id/portrait/ledger"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/upstream"
)

// dashboardDays is how many UTC days the dashboard charts, today included.
const dashboardDays = 14

// latencySample is how many of the latest calls the latency percentiles
// are taken over: recent enough to show today's service, bounded whatever
// the ledger's size.
const latencySample = 1000

type dashboardData struct {
	Days, Merchants, Codes template.HTML
	Calls, Charged         int64
	Percentiles            []percentile
	Sample                 int
	Health                 []health
	MerchantCount          int
	ByStatus               map[string]int
	From, To               string
}

type percentile struct {
	Name string
	MS   string
}

func (c *Console) dashboard(w http.ResponseWriter, r *request) {
	ctx := r.Context()
	today := c.now().Truncate(24 * time.Hour)
	from := today.AddDate(0, 0, -(dashboardDays - 1))
	usage, err := c.cfg.Store.LedgerUsage(ctx, store.LedgerFilter{From: from, To: today.AddDate(0, 0, 1)})
	if err != nil {
		c.fail(w, err)
		return
	}
	d := dashboardData{ByStatus: map[string]int{}, From: from.Format(time.DateOnly), To: today.Format(time.DateOnly)}
	days := make([]bar, dashboardDays)
	dayIndex := map[string]int{}
	for i := range days {
		day := from.AddDate(0, 0, i).Format(time.DateOnly)
		days[i].Label, dayIndex[day] = day[5:], i
	}
	perMerchant := map[string]*bar{}
	perCode := map[string]*series{}
	for _, u := range usage {
		i, ok := dayIndex[u.Day]
		if !ok {
			continue
		}
		days[i].Total += u.Calls
		days[i].Part += u.Charged
		if perMerchant[u.AppKey] == nil {
			perMerchant[u.AppKey] = &bar{Label: u.AppKey}
		}
		perMerchant[u.AppKey].Total += u.Calls
		perMerchant[u.AppKey].Part += u.Charged
		if perCode[u.Code] == nil {
			perCode[u.Code] = &series{Name: u.Code, Values: make([]int64, dashboardDays)}
		}
		perCode[u.Code].Values[i] += u.Calls
		perCode[u.Code].Total += u.Calls
		d.Calls += u.Calls
		d.Charged += u.Charged
	}
	ms, err := c.cfg.Merchants.List(ctx)
	if err != nil {
		c.fail(w, err)
		return
	}
	names := map[string]string{}
	for _, m := range ms {
		d.ByStatus[m.Status]++
		names[m.AppKey] = m.Name
	}
	d.MerchantCount = len(ms)
	top := sortedBars(perMerchant, 10)
	for i := range top {
		if n := names[top[i].Label]; n != "" {
			top[i].Label, top[i].Note = n, top[i].Label
		}
	}
	d.Days = columnChart("calls per day; charged in the darker part", days)
	d.Merchants = rowChart("calls per merchant, top 10", top)
	labels := make([]string, len(days))
	for i := range days {
		labels[i] = days[i].Label
	}
	d.Codes = stackedChart("calls per day by code", labels, codeSeries(perCode))
	recent, err := c.cfg.Store.ListLedger(ctx, store.LedgerFilter{Newest: true, Limit: latencySample})
	if err != nil {
		c.fail(w, err)
		return
	}
	d.Sample = len(recent)
	if len(recent) > 0 {
		lat := make([]time.Duration, len(recent))
		for i, row := range recent {
			lat[i] = row.Latency
		}
		slices.Sort(lat)
		for _, p := range []struct {
			name string
			q    float64
		}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"max", 1}} {
			v := lat[min(len(lat)-1, int(p.q*float64(len(lat))))]
			d.Percentiles = append(d.Percentiles, percentile{p.name, fmt.Sprintf("%.1f", float64(v.Microseconds())/1000)})
		}
	}
	d.Health = c.health(ctx)
	c.page(w, r, http.StatusOK, "dashboard", "Dashboard", view{Data: d})
}

// sortedBars orders bars by calls, largest first (then label), keeping at
// most n (0: all).
func sortedBars(m map[string]*bar, n int) []bar {
	out := make([]bar, 0, len(m))
	for _, b := range m {
		out = append(out, *b)
	}
	slices.SortFunc(out, func(a, b bar) int { return cmp.Or(cmp.Compare(b.Total, a.Total), strings.Compare(a.Label, b.Label)) })
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// codeSeries orders codes by calls, largest first, folding all past the
// palette's into one "other" series.
func codeSeries(m map[string]*series) []series {
	out := make([]series, 0, len(m))
	for _, s := range m {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b series) int { return cmp.Or(cmp.Compare(b.Total, a.Total), strings.Compare(a.Name, b.Name)) })
	if keep := len(palette) - 1; len(out) > keep+1 {
		other := series{Name: "other", Values: make([]int64, len(out[0].Values))}
		for _, s := range out[keep:] {
			for i, v := range s.Values {
				other.Values[i] += v
			}
			other.Total += s.Total
		}
		out = append(out[:keep], other)
	}
	return out
}

type merchantsData struct {
	Merchants []store.Merchant
	Created   *merchant.Created // the one view that shows a secret
}

func (c *Console) merchantList(w http.ResponseWriter, r *request) {
	c.merchantsPage(w, r, http.StatusOK, nil, "")
}

func (c *Console) merchantsPage(w http.ResponseWriter, r *request, status int, created *merchant.Created, msg string) {
	ms, err := c.cfg.Merchants.List(r.Context())
	if err != nil {
		c.fail(w, err)
		return
	}
	c.page(w, r, status, "merchants", "Merchants", view{Error: msg, Data: merchantsData{Merchants: ms, Created: created}})
}

// settingsForm applies the merchant form's fields to s; only fields present
// in the form change, so that the status buttons post the status alone.
func settingsForm(r *http.Request, s *merchant.Settings) error {
	f := r.PostForm
	if f.Has("name") {
		s.Name = strings.TrimSpace(f.Get("name"))
	}
	if f.Has("status") {
		s.Status = f.Get("status")
	}
	var err error
	num := func(field string, set func(string) error) {
		if err == nil && f.Has(field) {
			if e := set(strings.TrimSpace(f.Get(field))); e != nil {
				err = fmt.Errorf("%s: %w", field, e)
			}
		}
	}
	num("qps", func(v string) (e error) { s.QPS, e = strconv.ParseFloat(v, 64); return })
	num("burst", func(v string) (e error) { s.Burst, e = strconv.Atoi(v); return })
	num("free_quota", func(v string) (e error) { s.FreeQuota, e = strconv.ParseInt(v, 10, 64); return })
	if f.Has("expire_now") {
		// The policy refuses a call at or after ExpiresAt: now ends the
		// account at once, answering 1005 from the next cache refresh.
		s.ExpiresAt = time.Now().UTC().Truncate(time.Second)
	}
	num("expires", func(v string) error {
		if v == "" {
			s.ExpiresAt = time.Time{}
			return nil
		}
		t, e := time.Parse(time.DateOnly, v)
		s.ExpiresAt = t
		return e
	})
	num("route", func(v string) error {
		if v == "" {
			s.Route = ""
			return nil
		}
		m, e := upstream.ParseMode(v, "")
		s.Route = string(m)
		return e
	})
	if err == nil && f.Has("services") {
		s.Services = nil
		if f.Get("grant_portrait") != "" {
			s.Services = []string{merchant.ServicePortrait}
		}
	}
	return err
}

func (c *Console) merchantCreate(w http.ResponseWriter, r *request) {
	set := merchant.NewSettings("")
	if err := settingsForm(r.Request, &set); err != nil {
		c.merchantsPage(w, r, http.StatusBadRequest, nil, err.Error())
		return
	}
	created, err := c.cfg.Merchants.Create(r.Context(), set)
	if errors.Is(err, merchant.ErrInvalidSettings) {
		c.merchantsPage(w, r, http.StatusBadRequest, nil, err.Error())
		return
	}
	if err != nil {
		c.fail(w, err)
		return
	}
	c.audit(r, "merchant.create", created.Merchant.AppKey, describe(created.Merchant))
	c.merchantsPage(w, r, http.StatusOK, &created, "")
}

// describe is a merchant's settings in one line, for the audit log.
func describe(m store.Merchant) string {
	exp := "never"
	if !m.ExpiresAt.IsZero() {
		exp = m.ExpiresAt.Format(time.DateOnly)
	}
	return fmt.Sprintf("name=%q status=%s qps=%g burst=%d free_quota=%d expires=%s services=%s route=%s",
		m.Name, m.Status, m.QPS, m.Burst, m.FreeQuota, exp, strings.Join(m.Services, ","), m.Route)
}

type merchantData struct {
	M         store.Merchant
	Secret    string // set only in the answer to a rotation
	Granted   bool
	Routes    []string
	Statuses  []string
	Usage     []ledger.DayUsage
	ExpiresOn string
}

func (c *Console) merchantShow(w http.ResponseWriter, r *request) {
	c.merchantPage(w, r, http.StatusOK, r.PathValue("key"), "", "", "")
}

// merchantFailed answers err of a merchant operation, when there is one:
// not found for an unknown app_key, else an internal error.
func (c *Console) merchantFailed(w http.ResponseWriter, r *request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, merchant.ErrUnknownAppKey):
		http.NotFound(w, r.Request)
	default:
		c.fail(w, err)
	}
	return true
}

func (c *Console) merchantPage(w http.ResponseWriter, r *request, status int, key, secret, notice, msg string) {
	ctx := r.Context()
	m, err := c.cfg.Merchants.Get(ctx, key)
	if c.merchantFailed(w, r, err) {
		return
	}
	today := c.now().Truncate(24 * time.Hour)
	usage, err := ledger.Usage(ctx, c.cfg.Store, store.LedgerFilter{AppKey: key, From: today.AddDate(0, 0, -6), To: today.AddDate(0, 0, 1)})
	if err != nil {
		c.fail(w, err)
		return
	}
	d := merchantData{M: m, Secret: secret, Granted: slices.Contains(m.Services, merchant.ServicePortrait), Usage: usage,
		Routes:   []string{"", string(upstream.ModeRegistry), string(upstream.ModeRegistryFirst), string(upstream.ModeUpstream)},
		Statuses: []string{store.StatusActive, store.StatusFrozen, store.StatusDisabled}}
	if !m.ExpiresAt.IsZero() {
		d.ExpiresOn = m.ExpiresAt.UTC().Format(time.DateOnly)
	}
	c.page(w, r, status, "merchant", m.Name, view{Data: d, Notice: notice, Error: msg})
}

func (c *Console) merchantUpdate(w http.ResponseWriter, r *request) {
	key := r.PathValue("key")
	var formErr error
	m, err := c.cfg.Merchants.Update(r.Context(), key, func(s *merchant.Settings) { formErr = settingsForm(r.Request, s) })
	if formErr != nil || errors.Is(err, merchant.ErrInvalidSettings) {
		c.merchantPage(w, r, http.StatusBadRequest, key, "", "", errors.Join(formErr, err).Error())
		return
	}
	if c.merchantFailed(w, r, err) {
		return
	}
	c.audit(r, "merchant.update", key, describe(m))
	c.merchantPage(w, r, http.StatusOK, key, "", "Saved: "+describe(m), "")
}

func (c *Console) merchantRotate(w http.ResponseWriter, r *request) {
	key := r.PathValue("key")
	secret, err := c.cfg.Merchants.RotateSecret(r.Context(), key)
	if c.merchantFailed(w, r, err) {
		return
	}
	c.audit(r, "merchant.rotate_secret", key, "")
	c.merchantPage(w, r, http.StatusOK, key, secret, "", "")
}

// ledgerPageRows is how many calls the ledger page lists; the CSV export
// has the rest, up to ledgerExportRows.
const (
	ledgerPageRows   = 100
	ledgerExportRows = 1_000_000
)

type ledgerData struct {
	Q      ledgerQuery
	Rows   []store.LedgerRow
	More   bool
	Export template.URL // the search's CSV export
}

type ledgerQuery struct {
	TraceID, RequestID, AppKey, Day, Code string
}

func parseLedgerQuery(r *http.Request) (ledgerQuery, store.LedgerFilter, error) {
	q := ledgerQuery{}
	v := r.URL.Query()
	for _, f := range []struct {
		dst  *string
		name string
	}{{&q.TraceID, "trace_id"}, {&q.RequestID, "request_id"}, {&q.AppKey, "app_key"}, {&q.Day, "day"}, {&q.Code, "code"}} {
		*f.dst = strings.TrimSpace(v.Get(f.name))
		if len(*f.dst) > 128 {
			return q, store.LedgerFilter{}, fmt.Errorf("%s is too long", f.name)
		}
	}
	f := store.LedgerFilter{TraceID: q.TraceID, RequestID: q.RequestID, AppKey: q.AppKey, Code: q.Code, Newest: true}
	if q.Day != "" {
		d, err := time.Parse(time.DateOnly, q.Day)
		if err != nil {
			return q, f, fmt.Errorf("day %q: want 2006-01-02", q.Day)
		}
		f.From, f.To = d, d.AddDate(0, 0, 1)
	}
	return q, f, nil
}

func (c *Console) ledgerPage(w http.ResponseWriter, r *request) {
	q, f, err := parseLedgerQuery(r.Request)
	if err != nil {
		c.page(w, r, http.StatusBadRequest, "ledger", "Ledger", view{Error: err.Error(), Data: ledgerData{Q: q}})
		return
	}
	f.Limit = ledgerPageRows + 1
	rows, err := c.cfg.Store.ListLedger(r.Context(), f)
	if err != nil {
		c.fail(w, err)
		return
	}
	d := ledgerData{Q: q, Rows: rows, Export: exportURL("/ledger.csv", r.URL.Query())}
	if len(rows) > ledgerPageRows {
		d.Rows, d.More = rows[:ledgerPageRows], true
	}
	c.page(w, r, http.StatusOK, "ledger", "Ledger", view{Data: d})
}

func (c *Console) ledgerCSV(w http.ResponseWriter, r *request) {
	_, f, err := parseLedgerQuery(r.Request)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.Limit = ledgerExportRows
	rows, err := c.cfg.Store.ListLedger(r.Context(), f)
	if err != nil {
		c.fail(w, err)
		return
	}
	c.audit(r, "ledger.export", r.URL.RawQuery, fmt.Sprintf("%d rows", len(rows)))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="ledger-`+c.now().Format("20060102-150405")+`.csv"`)
	cw, err := ledger.NewCSVWriter(w)
	for _, row := range rows {
		if err != nil {
			break
		}
		err = cw.Write(row)
	}
	if err == nil {
		err = cw.Flush()
	}
	if err != nil {
		c.cfg.Logger.Warn("console ledger export cut short", "error", err.Error())
	}
}

// registryPageRows bounds a registry listing by ID-number prefix.
const registryPageRows = 50

type registryData struct {
	Query      string
	Record     *identity.Record
	Revealed   bool
	List       []store.Identity
	More       bool
	Counts     []store.TemplateCount
	Descriptor string
	Stale      int64 // templates of another descriptor: to re-embed
}

func (c *Console) registryPage(w http.ResponseWriter, r *request) {
	c.registry(w, r, http.StatusOK, "", "", "")
}

// registryFind is a search by POST, so that a full ID number typed in
// stays out of the address bar, the history and the server's access logs.
func (c *Console) registryFind(w http.ResponseWriter, r *request) {
	c.registry(w, r, http.StatusOK, r.PostFormValue("id_number"), "", "")
}

// registry renders the registry page, with the record of a full ID number
// in query or the records starting with a shorter one.
func (c *Console) registry(w http.ResponseWriter, r *request, status int, query, notice, msg string) {
	ctx := r.Context()
	d := registryData{Query: strings.ToUpper(strings.TrimSpace(query)), Descriptor: c.cfg.Descriptor}
	counts, err := c.cfg.Store.CountTemplates(ctx)
	if err != nil {
		c.fail(w, err)
		return
	}
	d.Counts = counts
	for _, tc := range counts {
		if tc.Status == store.TemplateOK && tc.Model != c.cfg.Descriptor {
			d.Stale += tc.Count
		}
	}
	if q := d.Query; q != "" && msg == "" {
		if len(q) > 18 {
			msg = "an ID number has at most 18 characters"
		} else if len(q) == 18 || len(q) == 15 {
			rec, err := c.cfg.Registry.Get(ctx, q)
			switch {
			case errors.Is(err, identity.ErrNotFound):
				notice = maskID(q) + " is not in the registry"
			case err != nil:
				c.fail(w, err)
				return
			default:
				d.Record = &rec
				// The one place a full number is shown: on the operator's
				// asking for this record, which the audit log records.
				if r.PostFormValue("reveal") == "1" {
					d.Revealed = true
					c.audit(r, "identity.reveal", maskID(q), "")
				}
			}
		} else {
			list, err := c.cfg.Store.ListIdentities(ctx, store.IdentityFilter{IDPrefix: q, Limit: registryPageRows + 1})
			if err != nil {
				c.fail(w, err)
				return
			}
			if len(list) > registryPageRows {
				list, d.More = list[:registryPageRows], true
			}
			d.List = list
		}
	}
	c.page(w, r, status, "registry", "Identity registry", view{Data: d, Notice: notice, Error: msg})
}

// maxPhoto bounds an uploaded reference photo, as the API bounds a selfie.
const maxPhoto = 2 << 20

func (c *Console) registryAdd(w http.ResponseWriter, r *request) {
	id, name := r.PostFormValue("id_number"), r.PostFormValue("name")
	var photo []byte
	if f, _, err := r.FormFile("photo"); err == nil {
		photo, err = io.ReadAll(io.LimitReader(f, maxPhoto+1))
		f.Close()
		if err != nil {
			c.fail(w, err)
			return
		}
		if len(photo) > maxPhoto {
			c.registry(w, r, http.StatusBadRequest, "", "", "the photo is over 2 MiB")
			return
		}
		if len(photo) == 0 {
			photo = nil
		}
	}
	rec, err := c.cfg.Registry.Add(r.Context(), id, name, photo)
	if err != nil {
		// Validation, image and enrolment errors name the problem and only
		// the masked number.
		c.registry(w, r, http.StatusBadRequest, "", "", err.Error())
		return
	}
	detail := "no photo"
	if photo != nil {
		detail = "photo, template " + rec.TemplateStatus
	}
	c.audit(r, "identity.add", maskID(rec.IDNumber), detail)
	c.registry(w, r, http.StatusOK, "", maskID(rec.IDNumber)+" stored ("+detail+")", "")
}

func (c *Console) registryRemove(w http.ResponseWriter, r *request) {
	id := r.PostFormValue("id_number")
	err := c.cfg.Registry.Remove(r.Context(), id)
	if errors.Is(err, identity.ErrNotFound) {
		c.registry(w, r, http.StatusNotFound, "", "", maskID(id)+" is not in the registry")
		return
	}
	if err != nil {
		c.fail(w, err)
		return
	}
	c.audit(r, "identity.remove", maskID(id), "")
	c.registry(w, r, http.StatusOK, "", maskID(id)+" removed", "")
}

// exportURL is path with the search q re-encoded: a URL of this origin,
// which html/template would otherwise encode again as one value.
func exportURL(path string, q url.Values) template.URL {
	if len(q) == 0 {
		return template.URL(path)
	}
	return template.URL(path + "?" + q.Encode())
}

func maskID(id string) string { return idcard.MaskID(strings.ToUpper(strings.TrimSpace(id))) }

// auditPageRows is how many entries the audit page shows; the export has
// them all.
const auditPageRows = 200

func auditFilter(r *http.Request) store.AuditFilter {
	f := store.AuditFilter{Operator: strings.TrimSpace(r.URL.Query().Get("operator"))}
	if d, err := time.Parse(time.DateOnly, r.URL.Query().Get("day")); err == nil {
		f.From, f.To = d, d.AddDate(0, 0, 1)
	}
	return f
}

func (c *Console) auditPage(w http.ResponseWriter, r *request) {
	f := auditFilter(r.Request)
	f.Limit = auditPageRows
	entries, err := c.cfg.Store.ListAudit(r.Context(), f)
	if err != nil {
		c.fail(w, err)
		return
	}
	c.page(w, r, http.StatusOK, "audit", "Audit log", view{Data: struct {
		Entries       []store.AuditEntry
		Operator, Day string
		Export        template.URL
	}{entries, f.Operator, r.URL.Query().Get("day"), exportURL("/audit.csv", r.URL.Query())}})
}

func (c *Console) auditCSV(w http.ResponseWriter, r *request) {
	entries, err := c.cfg.Store.ListAudit(r.Context(), auditFilter(r.Request))
	if err != nil {
		c.fail(w, err)
		return
	}
	c.audit(r, "audit.export", r.URL.RawQuery, fmt.Sprintf("%d entries", len(entries)))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audit-`+c.now().Format("20060102-150405")+`.csv"`)
	cw := safecsv.NewWriter(w)
	cw.Write([]string{"time", "operator", "action", "target", "detail", "remote"})
	for _, e := range entries {
		cw.Write([]string{e.Time.Format(time.RFC3339Nano), e.Operator, e.Action, e.Target, e.Detail, e.Remote})
	}
	if err := cw.Flush(); err != nil {
		c.cfg.Logger.Warn("console audit export cut short", "error", err.Error())
	}
}

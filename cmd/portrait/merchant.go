package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/upstream"
)

func init() {
	register("merchant create", "create a merchant; prints its app_key and app_secret (shown once)", merchantCreate)
	register("merchant list", "list merchants", merchantList)
	register("merchant show", "show one merchant: merchant show APP_KEY", merchantShow)
	register("merchant set", "change a merchant: merchant set APP_KEY [--status …] [--qps …] [--route …] …", merchantSet)
	register("merchant rotate-secret", "give a merchant a new app_secret (shown once)", merchantRotate)
	register("merchant delete", "delete a merchant (its ledger rows stay): merchant delete APP_KEY", merchantDelete)
}

// merchantJSON is a merchant as the CLI prints it; the secret appears only
// in the answers of create and rotate-secret.
type merchantJSON struct {
	AppKey    string     `json:"app_key"`
	AppSecret string     `json:"app_secret,omitempty"`
	Name      string     `json:"name"`
	Status    string     `json:"status"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Services  []string   `json:"services"`
	QPS       float64    `json:"qps"`
	Burst     int        `json:"burst"`
	FreeQuota int64      `json:"free_quota"` // 0: unlimited
	QuotaUsed int64      `json:"quota_used"`
	Route     string     `json:"route"` // routeDefault: the instance's
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// routeDefault names a merchant without a route of its own, which follows
// the instance's --route.
const routeDefault = "default"

func viewMerchant(m store.Merchant, secret string) merchantJSON {
	v := merchantJSON{AppKey: m.AppKey, AppSecret: secret, Name: m.Name, Status: m.Status, Services: m.Services,
		QPS: m.QPS, Burst: m.Burst, FreeQuota: m.FreeQuota, QuotaUsed: m.QuotaUsed, Route: m.Route, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	if v.Route == "" {
		v.Route = routeDefault
	}
	if v.Services == nil {
		v.Services = []string{}
	}
	if !m.ExpiresAt.IsZero() {
		t := m.ExpiresAt.UTC()
		v.ExpiresAt = &t
	}
	return v
}

func printMerchant(v merchantJSON, asJSON bool) error {
	if asJSON {
		return printJSON(v)
	}
	w := tabwriter.NewWriter(opsOut, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "app_key\t%s\n", v.AppKey)
	if v.AppSecret != "" {
		fmt.Fprintf(w, "app_secret\t%s\t(shown this once: store it now)\n", v.AppSecret)
	}
	expires := "never"
	if v.ExpiresAt != nil {
		expires = v.ExpiresAt.Format(time.RFC3339)
	}
	quota := "unlimited"
	if v.FreeQuota > 0 {
		quota = fmt.Sprintf("%d (used %d)", v.FreeQuota, v.QuotaUsed)
	}
	fmt.Fprintf(w, "name\t%s\nstatus\t%s\nexpires\t%s\nservices\t%s\nrate\t%g calls/s, burst %d\nfree quota\t%s\nroute\t%s\n",
		v.Name, v.Status, expires, strings.Join(v.Services, ", "), v.QPS, v.Burst, quota, v.Route)
	return w.Flush()
}

func merchantCreate(ctx context.Context, args []string) error {
	fs, sf := storeCmd("portrait merchant create")
	name := fs.String("name", "", "display name (required)")
	qps := fs.Float64("qps", merchant.DefaultQPS, "rate limit, calls per second")
	burst := fs.Int("burst", 0, "calls allowed at once; default two seconds' worth of --qps")
	quota := fs.Int64("free-quota", 0, "charged calls allowed; 0: unlimited")
	expires := fs.String("expires", "", "account expiry, RFC 3339; empty: never")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	set := merchant.NewSettings(*name)
	set.QPS, set.Burst, set.FreeQuota = *qps, merchant.BurstFor(*qps), *quota
	if given(fs)["burst"] {
		set.Burst = *burst
	}
	if *expires != "" {
		t, err := parseTime(*expires)
		if err != nil {
			return err
		}
		set.ExpiresAt = t
	}
	a, err := sf.open(ctx, app.FacesNone)
	if err != nil {
		return err
	}
	defer a.Close()
	c, err := a.Merchants.Create(ctx, set)
	if err != nil {
		return err
	}
	if err := auditCLI(ctx, a, "merchant.create", c.Merchant.AppKey); err != nil {
		return err
	}
	return printMerchant(viewMerchant(c.Merchant, c.Secret), *sf.json)
}

func merchantList(ctx context.Context, args []string) error {
	fs, sf := storeCmd("portrait merchant list")
	a, _, err := sf.parseOpen(ctx, fs, args, app.FacesNone)
	if err != nil {
		return err
	}
	defer a.Close()
	ms, err := a.Merchants.List(ctx)
	if err != nil {
		return err
	}
	views := make([]merchantJSON, 0, len(ms))
	for _, m := range ms {
		views = append(views, viewMerchant(m, ""))
	}
	if *sf.json {
		return printJSON(views)
	}
	w := tabwriter.NewWriter(opsOut, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "APP_KEY\tSTATUS\tQPS\tQUOTA\tUSED\tNAME")
	for _, v := range views {
		fmt.Fprintf(w, "%s\t%s\t%g\t%d\t%d\t%s\n", v.AppKey, v.Status, v.QPS, v.FreeQuota, v.QuotaUsed, v.Name)
	}
	return w.Flush()
}

func merchantShow(ctx context.Context, args []string) error {
	fs, sf := storeCmd("portrait merchant show")
	a, pos, err := sf.parseOpen(ctx, fs, args, app.FacesNone, "APP_KEY")
	if err != nil {
		return err
	}
	defer a.Close()
	m, err := a.Merchants.Get(ctx, pos[0])
	if err != nil {
		return err
	}
	return printMerchant(viewMerchant(m, ""), *sf.json)
}

// repeated is a flag that may be given several times (--grant a --grant b).
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func merchantSet(ctx context.Context, args []string) error {
	fs, sf := storeCmd("portrait merchant set")
	name := fs.String("name", "", "display name")
	status := fs.String("status", "", "active, frozen or disabled")
	qps := fs.Float64("qps", 0, "rate limit, calls per second (the burst follows unless --burst is given)")
	burst := fs.Int("burst", 0, "calls allowed at once")
	quota := fs.Int64("free-quota", 0, "charged calls allowed; 0: unlimited")
	expires := fs.String("expires", "", "account expiry, RFC 3339, or never")
	route := fs.String("route", "", fmt.Sprintf("where this merchant's calls are answered: %s (the instance's --route), %s, %s or %s",
		routeDefault, upstream.ModeRegistry, upstream.ModeRegistryFirst, upstream.ModeUpstream))
	var grant, revoke repeated
	fs.Var(&grant, "grant", "grant a service (repeatable), e.g. "+merchant.ServicePortrait)
	fs.Var(&revoke, "revoke", "revoke a service (repeatable)")
	pos, err := parseArgs(fs, args, "APP_KEY")
	if err != nil {
		return err
	}
	given := given(fs)
	var expiry time.Time
	if given["expires"] && *expires != "never" && *expires != "" {
		if expiry, err = parseTime(*expires); err != nil {
			return err
		}
	}
	var mode upstream.Mode
	if given["route"] && *route != routeDefault {
		if mode, err = upstream.ParseMode(*route, ""); err != nil || mode == "" {
			return fmt.Errorf("--route %q: want %s, %s, %s or %s", *route, routeDefault, upstream.ModeRegistry, upstream.ModeRegistryFirst, upstream.ModeUpstream)
		}
	}
	a, err := sf.open(ctx, app.FacesNone)
	if err != nil {
		return err
	}
	defer a.Close()
	m, err := a.Merchants.Update(ctx, pos[0], func(s *merchant.Settings) {
		if given["name"] {
			s.Name = *name
		}
		if given["status"] {
			s.Status = *status
		}
		if given["qps"] {
			s.QPS, s.Burst = *qps, merchant.BurstFor(*qps)
		}
		if given["burst"] {
			s.Burst = *burst
		}
		if given["free-quota"] {
			s.FreeQuota = *quota
		}
		if given["expires"] {
			s.ExpiresAt = expiry
		}
		if given["route"] {
			s.Route = string(mode)
		}
		s.Services = append(s.Services, grant...)
		s.Services = slices.DeleteFunc(s.Services, func(sv string) bool { return slices.Contains(revoke, sv) })
	})
	if err != nil {
		return err
	}
	return printMerchant(viewMerchant(m, ""), *sf.json)
}

// given is the set of flags given on the command line.
func given(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

func merchantRotate(ctx context.Context, args []string) error {
	fs, sf := storeCmd("portrait merchant rotate-secret")
	a, pos, err := sf.parseOpen(ctx, fs, args, app.FacesNone, "APP_KEY")
	if err != nil {
		return err
	}
	defer a.Close()
	secret, err := a.Merchants.RotateSecret(ctx, pos[0])
	if err != nil {
		return err
	}
	if err := auditCLI(ctx, a, "merchant.rotate_secret", pos[0]); err != nil {
		return err
	}
	m, err := a.Merchants.Get(ctx, pos[0])
	if err != nil {
		return err
	}
	return printMerchant(viewMerchant(m, secret), *sf.json)
}

func merchantDelete(ctx context.Context, args []string) error {
	fs, sf := storeCmd("portrait merchant delete")
	a, pos, err := sf.parseOpen(ctx, fs, args, app.FacesNone, "APP_KEY")
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Merchants.Delete(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(opsOut, "deleted %s; its ledger rows stay\n", pos[0])
	return nil
}

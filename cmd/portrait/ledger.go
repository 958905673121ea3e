package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/ledger"
	"github.com/portrait-id/portrait/store"
)

func init() {
	register("ledger", "per-merchant, per-day usage (calls, charged, by code) and, with --rows, --trace-id or --request-id, the calls and their verdicts", ledgerCmd)
}

type ledgerRowJSON struct {
	TraceID   string `json:"trace_id"`
	AppKey    string `json:"app_key"`
	RequestID string `json:"request_id"`
	Code      string `json:"code"`
	// The verdict answered, so that "why was this charged" has its answer.
	Result    int       `json:"result,omitempty"`
	IDName    int       `json:"id_name,omitempty"`
	Photo     int       `json:"photo,omitempty"`
	Score     float64   `json:"score,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Charge    bool      `json:"charge"`
	LatencyMS float64   `json:"latency_ms"`
	Time      time.Time `json:"time"`
	IDNumber  string    `json:"id_number"` // masked
	// The supplier's call behind ours, when one was asked: its trace_id
	// and whether it billed us.
	UpstreamTraceID string `json:"upstream_trace_id,omitempty"`
	UpstreamCharge  bool   `json:"upstream_charge"`
}

type ledgerJSON struct {
	Usage []ledger.DayUsage `json:"usage"`
	Rows  []ledgerRowJSON   `json:"rows,omitempty"`
}

func ledgerCmd(ctx context.Context, args []string) error {
	fs, sf := storeCmd("portrait ledger")
	appKey := fs.String("app-key", "", "only this merchant")
	from := fs.String("from", "", "from this UTC day (2006-01-02) or RFC 3339 instant, inclusive")
	to := fs.String("to", "", "to this UTC day, inclusive, or RFC 3339 instant, exclusive")
	traceID := fs.String("trace-id", "", "only this call (implies --rows)")
	requestID := fs.String("request-id", "", "only the calls with this request_id (implies --rows)")
	code := fs.String("code", "", "only the calls answered with this code")
	withRows := fs.Bool("rows", false, "also list the calls")
	limit := fs.Int("limit", 1000, "at most this many rows with --rows; 0: all")
	format := fs.String("format", "text", "text, json (as --json) or csv (the calls, one a line)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	switch *format {
	case "text":
	case "json":
		*sf.json = true
	case "csv":
		*withRows = true
	default:
		return fmt.Errorf("--format %q: want text, json or csv", *format)
	}
	if *traceID != "" || *requestID != "" {
		*withRows = true
	}
	f := store.LedgerFilter{AppKey: *appKey, TraceID: *traceID, RequestID: *requestID, Code: *code}
	var err error
	if *from != "" {
		if f.From, err = parseTime(*from); err != nil {
			return err
		}
	}
	if *to != "" {
		if f.To, err = parseTime(*to); err != nil {
			return err
		}
		if _, dayErr := time.Parse(time.DateOnly, *to); dayErr == nil {
			f.To = f.To.AddDate(0, 0, 1) // a day given as --to includes that day
		}
	}
	a, err := sf.open(ctx, app.FacesNone)
	if err != nil {
		return err
	}
	defer a.Close()
	if *format == "csv" {
		f.Limit = *limit
		return ledgerCSV(ctx, a.Store, f)
	}
	var out ledgerJSON
	if out.Usage, err = ledger.Usage(ctx, a.Store, f); err != nil {
		return err
	}
	if out.Usage == nil {
		out.Usage = []ledger.DayUsage{}
	}
	if *withRows {
		f.Limit = *limit
		rows, err := a.Store.ListLedger(ctx, f)
		if err != nil {
			return err
		}
		out.Rows = make([]ledgerRowJSON, 0, len(rows))
		for _, r := range rows {
			out.Rows = append(out.Rows, ledgerRowJSON{TraceID: r.TraceID, AppKey: r.AppKey, RequestID: r.RequestID, Code: r.Code,
				Result: r.Result, IDName: r.IDName, Photo: r.Photo, Score: r.Score, Reason: r.Reason, Charge: r.Charged, LatencyMS: float64(r.Latency.Microseconds()) / 1000, Time: r.Time, IDNumber: r.IDMasked,
				UpstreamTraceID: r.UpstreamTraceID, UpstreamCharge: r.UpstreamCharged})
		}
	}
	if *sf.json {
		return printJSON(out)
	}
	w := tabwriter.NewWriter(opsOut, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "DAY\tAPP_KEY\tCALLS\tCHARGED\tUPSTREAM_CHARGED\tBY CODE")
	for _, u := range out.Usage {
		var parts []string
		for _, c := range slices.Sorted(maps.Keys(u.ByCode)) {
			parts = append(parts, fmt.Sprintf("%s:%d", c, u.ByCode[c]))
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%s\n", u.Day, u.AppKey, u.Calls, u.Charged, u.UpstreamCharged, strings.Join(parts, " "))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if *withRows {
		w = tabwriter.NewWriter(opsOut, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "\nTIME\tTRACE_ID\tAPP_KEY\tREQUEST_ID\tCODE\tRESULT\tID_NAME\tPHOTO\tSCORE\tREASON\tCHARGE\tLATENCY\tID_NUMBER\tUPSTREAM_TRACE_ID\tUPSTREAM_CHARGE")
		for _, r := range out.Rows {
			upTrace, reason := r.UpstreamTraceID, r.Reason
			if upTrace == "" {
				upTrace = "-"
			}
			if reason == "" {
				reason = "-"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%.2f\t%s\t%v\t%.1fms\t%s\t%s\t%v\n", r.Time.Format(time.RFC3339), r.TraceID, r.AppKey,
				r.RequestID, r.Code, r.Result, r.IDName, r.Photo, r.Score, reason, r.Charge, r.LatencyMS, r.IDNumber, upTrace, r.UpstreamCharge)
		}
		return w.Flush()
	}
	return nil
}

// ledgerCSV prints the calls f selects as CSV (package ledger's columns).
func ledgerCSV(ctx context.Context, st store.Ledger, f store.LedgerFilter) error {
	rows, err := st.ListLedger(ctx, f)
	if err != nil {
		return err
	}
	w, err := ledger.NewCSVWriter(opsOut)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			return err
		}
	}
	return w.Flush()
}

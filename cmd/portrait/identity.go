package main

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/idcard"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/store"
)

func init() {
	register("identity add", "add or replace a registry record: --id-number X --name N [--photo FILE] [--no-keep-photo]", identityAdd)
	register("identity import", "bulk-load the registry: identity import FILE.csv --photos DIR [--no-keep-photo]", identityImport)
	register("identity list", "list registry records, ID numbers masked: [--prefix P] [--limit N] [--offset N] [--unmask]", identityList)
	register("identity show", "show a registry record: identity show ID_NUMBER", identityShow)
	register("identity remove", "remove a registry record: identity remove ID_NUMBER", identityRemove)
	register("identity reembed", "recompute every template from the kept photos with the configured descriptor: [--embedding X]", identityReembed)
}

// noKeepPhotoFlag is the opt-out of keeping reference photos, shared by add
// and import.
func noKeepPhotoFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("no-keep-photo", false, "keep only the photo's SHA-256 and face template, not the photo (sealed) itself: "+
		"the record then cannot be re-embedded when the descriptor changes (identity reembed), only added again with its photo")
}

// registryFor is the app's registry, keeping photos unless noKeep.
func registryFor(a *app.App, noKeep bool) *identity.Registry {
	if noKeep {
		return a.Registry.WithoutPhotos()
	}
	return a.Registry
}

// facesFor loads the face pipeline only when a photo must be enrolled, so
// that records without photos can be managed without the models.
func facesFor(needPhotos bool) app.FacesMode {
	if needPhotos {
		return app.FacesPipeline
	}
	return app.FacesNone
}

func printRecord(rec identity.Record, asJSON bool) error {
	if asJSON {
		return printJSON(rec)
	}
	w := tabwriter.NewWriter(opsOut, 0, 4, 2, ' ', 0)
	photo := photoState(rec)
	if rec.PhotoSHA256 != "" {
		photo = "sha256 " + rec.PhotoSHA256 + ", " + photo
	}
	fmt.Fprintf(w, "id_number\t%s\nname\t%s\nphoto\t%s\ntemplate\t%s %s\nupdated\t%s\n",
		rec.IDNumber, rec.Name, photo, rec.TemplateStatus, rec.TemplateModel, rec.UpdatedAt.Format("2006-01-02 15:04:05Z07:00"))
	return w.Flush()
}

// photoState says whether a record has a photo and whether it is kept.
func photoState(rec identity.Record) string {
	switch {
	case rec.PhotoSHA256 == "":
		return "none"
	case rec.PhotoKept:
		return "kept (sealed)"
	}
	return "not kept"
}

func warnNoFace(rec identity.Record, where string) {
	if rec.TemplateStatus == store.TemplateNoFace {
		fmt.Fprintf(opsErr, "warning: %sno usable face in the photo of %s: stored; calls will answer photo 3\n", where, idcard.MaskID(rec.IDNumber))
	}
}

func identityAdd(ctx context.Context, args []string) error {
	fs, sf := storeCmd("portrait identity add")
	id := fs.String("id-number", "", "ID number (required)")
	name := fs.String("name", "", "holder's name (required)")
	photoPath := fs.String("photo", "", "reference photo (JPG/PNG/BMP/GIF/TIFF); its face template and the photo are stored, sealed")
	noKeep := noKeepPhotoFlag(fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	for _, req := range []struct{ flag, value string }{{"id-number", *id}, {"name", *name}} {
		if strings.TrimSpace(req.value) == "" {
			return fmt.Errorf("--%s is required", req.flag)
		}
	}
	var photo []byte
	if *photoPath != "" {
		var err error
		if photo, err = readPhoto(*photoPath); err != nil {
			return err
		}
	}
	a, err := sf.open(ctx, facesFor(photo != nil))
	if err != nil {
		return err
	}
	defer a.Close()
	rec, err := registryFor(a, *noKeep).Add(ctx, *id, *name, photo)
	if err != nil {
		return err
	}
	warnNoFace(rec, "")
	return printRecord(rec, *sf.json)
}

func identityShow(ctx context.Context, args []string) error {
	fs, sf := storeCmd("portrait identity show")
	a, pos, err := sf.parseOpen(ctx, fs, args, app.FacesNone, "ID_NUMBER")
	if err != nil {
		return err
	}
	defer a.Close()
	rec, err := a.Registry.Get(ctx, pos[0])
	if err != nil {
		return err
	}
	return printRecord(rec, *sf.json)
}

func identityRemove(ctx context.Context, args []string) error {
	fs, sf := storeCmd("portrait identity remove")
	a, pos, err := sf.parseOpen(ctx, fs, args, app.FacesNone, "ID_NUMBER")
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Registry.Remove(ctx, pos[0]); err != nil {
		return err
	}
	if *sf.json {
		return printJSON(map[string]any{"removed": idcard.MaskID(pos[0])})
	}
	fmt.Fprintf(opsOut, "removed %s\n", idcard.MaskID(pos[0]))
	return nil
}

// listPage is identity list's JSON: one page of records, and the --offset
// of the next page (absent on the last).
type listPage struct {
	Records    []identity.Record `json:"records"`
	NextOffset *int              `json:"next_offset,omitempty"`
}

func identityList(ctx context.Context, args []string) error {
	fs, sf := storeCmd("portrait identity list")
	prefix := fs.String("prefix", "", "only ID numbers starting with these digits (e.g. a region code, 110105)")
	limit := fs.Int("limit", 50, "records per page (1–1000)")
	offset := fs.Int("offset", 0, "records skipped: the page's start")
	unmask := fs.Bool("unmask", false, "show full ID numbers and names (masked by default, as in logs)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	p := strings.ToUpper(strings.TrimSpace(*prefix))
	if len(p) > 18 || strings.Trim(p, "0123456789X") != "" {
		return fmt.Errorf("--prefix: want up to 18 digits (the last may be X), got %d characters", len(p))
	}
	if *limit < 1 || *limit > 1000 {
		return fmt.Errorf("--limit %d: want 1–1000", *limit)
	}
	if *offset < 0 {
		return fmt.Errorf("--offset %d: want 0 or more", *offset)
	}
	a, err := sf.open(ctx, app.FacesNone)
	if err != nil {
		return err
	}
	defer a.Close()
	recs, err := a.Registry.List(ctx, store.IdentityFilter{IDPrefix: p, Offset: *offset, Limit: *limit + 1})
	if err != nil {
		return err
	}
	page := listPage{Records: recs}
	if len(recs) > *limit {
		page.Records = recs[:*limit]
		next := *offset + *limit
		page.NextOffset = &next
	}
	if !*unmask {
		for i := range page.Records {
			r := &page.Records[i]
			r.IDNumber, r.Name = idcard.MaskID(r.IDNumber), idcard.MaskName(r.Name)
		}
	}
	if *sf.json {
		return printJSON(page)
	}
	w := tabwriter.NewWriter(opsOut, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID_NUMBER\tNAME\tPHOTO\tTEMPLATE\tUPDATED")
	for _, r := range page.Records {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s %s\t%s\n", r.IDNumber, r.Name, photoState(r), r.TemplateStatus, r.TemplateModel, r.UpdatedAt.Format("2006-01-02 15:04"))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if page.NextOffset != nil {
		fmt.Fprintf(opsOut, "more: --offset %d\n", *page.NextOffset)
	}
	return nil
}

// errNotReembedded makes a re-embedding that left records on their old
// descriptor exit non-zero: serve refuses to start until they are dealt
// with.
var errNotReembedded = errors.New("records keep templates of another descriptor: serve refuses to start until they are added again with their photos or removed")

// listedIDs is how many masked ID numbers a text report names before
// counting the rest.
const listedIDs = 20

func identityReembed(ctx context.Context, args []string) error {
	fs, sf := storeCmd("portrait identity reembed")
	a, _, err := sf.parseOpen(ctx, fs, args, app.FacesPipeline)
	if err != nil {
		return err
	}
	defer a.Close()
	var bar *progress
	sum, err := a.Registry.Reembed(ctx, func(done, total int) {
		if bar == nil {
			bar = newProgress(opsErr, total)
		}
		bar.set(done)
	})
	if bar != nil {
		bar.done()
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted (run again to resume: records already re-embedded are skipped): %w", err)
		}
		return err
	}
	if *sf.json {
		if err := printJSON(sum); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(opsOut, "%s: %d re-embedded, %d without usable face (calls answer photo 3), %d already current, %d changed meanwhile (left as they are)\n",
			sum.Model, sum.Reembedded, sum.NoFace, sum.Current, sum.Changed)
		printIDs("without a kept photo (add each again with its photo, or remove it)", sum.NotKept)
		printIDs("whose kept photo the pipeline refuses as an image (add each again with a new photo, or remove it)", sum.Unreadable)
	}
	if n := len(sum.NotKept) + len(sum.Unreadable); n > 0 {
		return fmt.Errorf("%d %w", n, errNotReembedded)
	}
	return nil
}

// printIDs prints a count of records and the first listedIDs of their
// masked ID numbers.
func printIDs(what string, ids []string) {
	if len(ids) == 0 {
		return
	}
	fmt.Fprintf(opsOut, "%d records %s:\n", len(ids), what)
	for _, id := range ids[:min(len(ids), listedIDs)] {
		fmt.Fprintf(opsOut, "  %s\n", id)
	}
	if len(ids) > listedIDs {
		fmt.Fprintf(opsOut, "  … and %d more (--json lists them all)\n", len(ids)-listedIDs)
	}
}

// importSummary is what identity import reports at the end.
type importSummary struct {
	Rows     int           `json:"rows"`
	Added    int           `json:"added"`
	Skipped  int           `json:"skipped"` // already present, same name and photo
	NoFace   int           `json:"no_face"` // stored, with a warning
	Rejected []importIssue `json:"rejected"`
	Warnings []importIssue `json:"warnings"`
}

type importIssue struct {
	Line     int    `json:"line"`
	IDNumber string `json:"id_number"` // masked
	Reason   string `json:"reason"`
}

// errRejectedRows makes an import with rejected rows exit non-zero, after
// its summary, so that scripts notice.
var errRejectedRows = errors.New("rows rejected")

func identityImport(ctx context.Context, args []string) error {
	fs, sf := storeCmd("portrait identity import")
	photos := fs.String("photos", ".", "directory the CSV's relative photo paths start from")
	noKeep := noKeepPhotoFlag(fs)
	pos, err := parseArgs(fs, args, "FILE.csv")
	if err != nil {
		return err
	}
	rows, err := readImportCSV(pos[0])
	if err != nil {
		return err
	}
	needPhotos := false
	for _, r := range rows {
		needPhotos = needPhotos || r.photo != ""
	}
	a, err := sf.open(ctx, facesFor(needPhotos))
	if err != nil {
		return err
	}
	defer a.Close()
	bar := newProgress(opsErr, len(rows))
	outcomes := importAll(ctx, registryFor(a, *noKeep), *photos, rows, bar)
	sum := importSummary{Rows: len(rows), Rejected: []importIssue{}, Warnings: []importIssue{}}
	for i, o := range outcomes {
		r := rows[i]
		issue := importIssue{Line: r.line, IDNumber: idcard.MaskID(r.id)}
		switch {
		case o.err != nil:
			issue.Reason = o.err.Error()
			sum.Rejected = append(sum.Rejected, issue)
		case o.skipped:
			sum.Skipped++
		default:
			sum.Added++
			if o.rec.TemplateStatus == store.TemplateNoFace {
				sum.NoFace++
				issue.Reason = "no usable face in the photo: stored, calls will answer photo 3"
				sum.Warnings = append(sum.Warnings, issue)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		bar.done()
		return fmt.Errorf("interrupted (run again to resume: rows already stored are skipped): %w", err)
	}
	bar.set(len(rows))
	bar.done()
	if *sf.json {
		if err := printJSON(sum); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(opsOut, "%d rows: %d added, %d already present, %d without usable face, %d rejected\n",
			sum.Rows, sum.Added, sum.Skipped, sum.NoFace, len(sum.Rejected))
		for _, w := range sum.Warnings {
			fmt.Fprintf(opsOut, "  warning line %d (%s): %s\n", w.Line, w.IDNumber, w.Reason)
		}
		for _, r := range sum.Rejected {
			fmt.Fprintf(opsOut, "  rejected line %d (%s): %s\n", r.Line, r.IDNumber, r.Reason)
		}
	}
	if len(sum.Rejected) > 0 {
		return fmt.Errorf("%d of %d %w", len(sum.Rejected), sum.Rows, errRejectedRows)
	}
	return nil
}

type importOutcome struct {
	rec     identity.Record
	skipped bool
	err     error
}

// importAll imports rows on one worker per CPU, since enrolling a photo is
// CPU-bound and the pipeline serves goroutines concurrently. A row naming
// an ID number an earlier row named is rejected, not imported: which of two
// photos of one person should win is for the operator to say, not for the
// order the workers finish in.
func importAll(ctx context.Context, reg *identity.Registry, dir string, rows []importRowData, bar *progress) []importOutcome {
	out := make([]importOutcome, len(rows))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		finished int
	)
	step := func() {
		mu.Lock()
		finished++
		bar.set(finished)
		mu.Unlock()
	}
	queue := make(chan int, 64)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				if ctx.Err() != nil {
					out[i].err = ctx.Err()
					continue
				}
				out[i].rec, out[i].skipped, out[i].err = importRow(ctx, reg, dir, rows[i])
				step()
			}
		}()
	}
	firstLine := map[string]int{}
	for i, r := range rows {
		id := strings.ToUpper(r.id)
		if first, ok := firstLine[id]; ok && id != "" {
			out[i].err = fmt.Errorf("duplicate of line %d: one row per ID number (the first is imported)", first)
			step()
			continue
		}
		firstLine[id] = r.line
		queue <- i
	}
	close(queue)
	wg.Wait()
	return out
}

type importRowData struct {
	line            int
	id, name, photo string
}

// readImportCSV reads id_number,name,photo rows.
func readImportCSV(path string) ([]importRowData, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := parseImportCSV(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

// importColumns are the columns an import CSV may name in its header.
var importColumns = []string{"id_number", "name", "photo"}

// errImportHeader is a first line that is neither a header of
// importColumns nor a row starting with an ID number: one error for the
// file, rather than every row rejected for columns read in the wrong place.
var errImportHeader = errors.New("the first line must be a header naming id_number, name and optionally photo (in any order), or a first row starting with an ID number")

// parseImportCSV reads the rows. Without a header the columns are
// id_number, name, photo, and the photo column may be absent; a header (a
// first line whose first field is not an ID number) may name them in any
// order, and must name nothing else.
func parseImportCSV(in io.Reader) ([]importRowData, error) {
	r := csv.NewReader(in)
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	cols := []int{0, 1, 2} // index of id_number, name, photo in a record; -1: absent
	var out []importRowData
	for first := true; ; first = false {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := r.FieldPos(0)
		if len(rec) > 0 {
			rec[0] = strings.TrimPrefix(rec[0], "\ufeff")
		}
		if first && !looksLikeID(rec[0]) {
			if cols, err = importHeader(rec); err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			continue
		}
		field := func(c int) string {
			if cols[c] < 0 || cols[c] >= len(rec) {
				return ""
			}
			return rec[cols[c]]
		}
		out = append(out, importRowData{line: line, id: strings.TrimSpace(field(0)), name: field(1), photo: strings.TrimSpace(field(2))})
	}
	return out, nil
}

// looksLikeID reports whether s is shaped as an ID number might be, however
// wrong: digits, possibly ending in X. Anything else on a first line is a
// header.
func looksLikeID(s string) bool {
	s = strings.TrimSpace(s)
	return s != "" && strings.Trim(strings.TrimRight(s, "Xx"), "0123456789") == ""
}

// importHeader maps a header's columns to cols' order.
func importHeader(rec []string) ([]int, error) {
	cols := []int{-1, -1, -1}
	for i, name := range rec {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue // a spreadsheet's trailing separators
		}
		c := slices.Index(importColumns, name)
		switch {
		case c < 0 && strings.ContainsAny(name, "0123456789"):
			// Possibly a mistyped ID number: not echoed.
			return nil, fmt.Errorf("column %d is not a column name: %w", i+1, errImportHeader)
		case c < 0:
			return nil, fmt.Errorf("unknown column %q: %w", name, errImportHeader)
		case cols[c] >= 0:
			return nil, fmt.Errorf("column %q named twice: %w", name, errImportHeader)
		}
		cols[c] = i
	}
	if cols[0] < 0 || cols[1] < 0 {
		return nil, fmt.Errorf("no id_number or no name column: %w", errImportHeader)
	}
	return cols, nil
}

// readPhoto reads a reference photo, refusing one over
// identity.MaxPhotoBytes before reading it all.
func readPhoto(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, identity.MaxPhotoBytes+1))
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	if len(b) > identity.MaxPhotoBytes {
		return nil, &os.PathError{Op: "read", Path: path, Err: identity.ErrPhotoTooLarge}
	}
	return b, nil
}

// importRow adds one row unless the registry already holds it with the same
// name and photo (a resumed import), which it reports as skipped.
func importRow(ctx context.Context, reg *identity.Registry, dir string, r importRowData) (identity.Record, bool, error) {
	var photo, sum []byte
	if r.photo != "" {
		var err error
		path := r.photo
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		if photo, err = readPhoto(path); err != nil {
			return identity.Record{}, false, fmt.Errorf("photo %s: %w", r.photo, errors.Unwrap(err))
		}
		s := sha256.Sum256(photo)
		sum = s[:]
	}
	if has, err := reg.Has(ctx, r.id, r.name, sum); err != nil {
		return identity.Record{}, false, err
	} else if has {
		return identity.Record{}, true, nil
	}
	rec, err := reg.Add(ctx, r.id, r.name, photo)
	return rec, false, err
}

// progress draws a bar on stderr when stderr is a terminal, and nothing
// otherwise (logs, pipes, tests).
type progress struct {
	w     io.Writer
	total int
	last  int
}

func newProgress(w io.Writer, total int) *progress {
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 && total > 0 {
			return &progress{w: w, total: total, last: -1}
		}
	}
	return &progress{}
}

func (p *progress) set(n int) {
	if p.w == nil {
		return
	}
	pct := n * 100 / p.total
	if pct == p.last {
		return
	}
	p.last = pct
	const width = 40
	fill := n * width / p.total
	fmt.Fprintf(p.w, "\r[%s%s] %3d%% %d/%d", strings.Repeat("#", fill), strings.Repeat(".", width-fill), pct, n, p.total)
}

func (p *progress) done() {
	if p.w != nil {
		fmt.Fprintln(p.w)
	}
}

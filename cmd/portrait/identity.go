package main

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/idcard"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/store"
)

func init() {
	register("identity add", "add or replace a registry record: --id-number X --name N [--photo FILE]", identityAdd)
	register("identity import", "bulk-load the registry: identity import FILE.csv --photos DIR", identityImport)
	register("identity show", "show a registry record: identity show ID_NUMBER", identityShow)
	register("identity remove", "remove a registry record: identity remove ID_NUMBER", identityRemove)
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
	photo := "none"
	if rec.PhotoSHA256 != "" {
		photo = "sha256 " + rec.PhotoSHA256
	}
	fmt.Fprintf(w, "id_number\t%s\nname\t%s\nphoto\t%s\ntemplate\t%s %s\nupdated\t%s\n",
		rec.IDNumber, rec.Name, photo, rec.TemplateStatus, rec.TemplateModel, rec.UpdatedAt.Format("2006-01-02 15:04:05Z07:00"))
	return w.Flush()
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
	photoPath := fs.String("photo", "", "reference photo (JPG/PNG/BMP/GIF/TIFF); its face template is stored, not the photo")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	var photo []byte
	if *photoPath != "" {
		var err error
		if photo, err = os.ReadFile(*photoPath); err != nil {
			return err
		}
	}
	a, err := sf.open(ctx, facesFor(photo != nil))
	if err != nil {
		return err
	}
	defer a.Close()
	rec, err := a.Registry.Add(ctx, *id, *name, photo)
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
	outcomes := importAll(ctx, a.Registry, *photos, rows, bar)
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
// CPU-bound and the pipeline serves goroutines concurrently. Rows of one ID
// number go to the same worker, in file order, so that a file naming a
// person twice ends as it would sequentially.
func importAll(ctx context.Context, reg *identity.Registry, dir string, rows []importRowData, bar *progress) []importOutcome {
	out := make([]importOutcome, len(rows))
	n := runtime.GOMAXPROCS(0)
	queues := make([]chan int, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	finished := 0
	for w := range queues {
		queues[w] = make(chan int, 64)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queues[w] {
				if ctx.Err() != nil {
					out[i].err = ctx.Err()
					continue
				}
				out[i].rec, out[i].skipped, out[i].err = importRow(ctx, reg, dir, rows[i])
				mu.Lock()
				finished++
				bar.set(finished)
				mu.Unlock()
			}
		}()
	}
	for i, r := range rows {
		h := fnv.New32a()
		h.Write([]byte(strings.ToUpper(r.id)))
		queues[int(h.Sum32()%uint32(n))] <- i
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	return out
}

type importRowData struct {
	line            int
	id, name, photo string
}

// readImportCSV reads id_number,name,photo rows; a header row naming those
// columns is recognised and skipped, and the photo column may be absent.
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

func parseImportCSV(in io.Reader) ([]importRowData, error) {
	r := csv.NewReader(in)
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	var out []importRowData
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := r.FieldPos(0)
		if len(out) == 0 && len(rec) > 0 && strings.EqualFold(strings.TrimPrefix(rec[0], "\ufeff"), "id_number") {
			continue
		}
		row := importRowData{line: line}
		if len(rec) > 0 {
			row.id = strings.TrimPrefix(strings.TrimSpace(rec[0]), "\ufeff")
		}
		if len(rec) > 1 {
			row.name = rec[1]
		}
		if len(rec) > 2 {
			row.photo = strings.TrimSpace(rec[2])
		}
		out = append(out, row)
	}
	return out, nil
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
		if photo, err = os.ReadFile(path); err != nil {
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

// Package ledger records one billing row per call that reaches a known
// merchant and reports per-merchant, per-day usage. Rows are written through
// one writer goroutine that commits whatever has queued up in one transaction
// (group commit), so the ledger keeps up with the API while each caller still
// waits for its own row to be durable before answering.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portrait-id/portrait/internal/safecsv"
	"github.com/portrait-id/portrait/store"
)

// ErrClosed is a row recorded after Close.
var ErrClosed = errors.New("ledger closed")

// maxBatch bounds one transaction, so that one commit's latency stays small
// even under a burst.
const maxBatch = 512

// Book is the ledger of one store.
type Book struct {
	st store.Ledger

	mu     sync.RWMutex // guards closed against sends on a closed queue
	closed bool
	queue  chan *pending
	done   chan struct{}
}

type pending struct {
	ctx    context.Context
	row    store.LedgerRow
	result chan error
	// state is who has the row: its caller while queued, the writer once
	// it takes the row into a transaction, or nobody once its caller gave
	// up on it at its deadline. Whoever moves it from queued decides.
	state atomic.Int32
}

const (
	queued int32 = iota
	taken
	abandoned
)

// take gives the row to the writer unless its caller gave up on it.
func (p *pending) take() bool {
	return p.state.CompareAndSwap(queued, taken) || p.state.Load() == taken
}

// maxCommit bounds a commit of rows whose callers set no deadline, so that
// a stalled database cannot hold the writer, and every caller behind it,
// forever.
const maxCommit = 30 * time.Second

// Open starts the writer of st's ledger; Close stops it.
func Open(st store.Ledger) *Book {
	b := &Book{st: st, queue: make(chan *pending, 4*maxBatch), done: make(chan struct{})}
	go b.write()
	return b
}

// Record commits row and returns once it is durable: nil, an error wrapping
// store.ErrQuotaExhausted when row is charged and the merchant's quota is used
// up (row not written), or the store's failure. ctx's deadline bounds the
// whole write: a row still queued at its deadline is not written and its
// caller is answered then, even while the writer is held by an earlier
// transaction; the transaction holding it is given up (rolled back) at the
// earliest deadline of its rows, so that the answer follows the ledger's
// fate and arrives within the deadline. Cancelling ctx stops only the wait
// for a place in the queue.
func (b *Book) Record(ctx context.Context, row store.LedgerRow) error {
	p := &pending{ctx: ctx, row: row, result: make(chan error, 1)}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrClosed
	}
	select {
	case b.queue <- p:
	case <-ctx.Done():
		b.mu.RUnlock()
		return fmt.Errorf("queue ledger row %s: %w", row.TraceID, ctx.Err())
	}
	b.mu.RUnlock()
	// Only the deadline gives the row up: a caller that went away (ctx
	// cancelled) still has its row written, as without a deadline.
	d, ok := ctx.Deadline()
	if !ok {
		return <-p.result
	}
	t := time.NewTimer(time.Until(d))
	defer t.Stop()
	select {
	case err := <-p.result:
		return err
	case <-t.C:
		if p.state.CompareAndSwap(queued, abandoned) {
			return fmt.Errorf("ledger row %s: deadline passed while queued: %w", row.TraceID, context.DeadlineExceeded)
		}
		// Taken into a transaction, which ends by this row's deadline.
		return <-p.result
	}
}

// Close commits what is queued and stops the writer.
func (b *Book) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.queue)
	}
	b.mu.Unlock()
	<-b.done
	return nil
}

func (b *Book) write() {
	defer close(b.done)
	batch := make([]*pending, 0, maxBatch)
	for first := range b.queue {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case p, ok := <-b.queue:
				if !ok {
					break fill
				}
				batch = append(batch, p)
			default:
				break fill
			}
		}
		b.commit(batch)
	}
}

// commit writes a batch; when the batch as a whole fails, each row is tried
// alone so that one bad row cannot fail its neighbours.
func (b *Book) commit(batch []*pending) {
	live := batch[:0:0]
	deadline := time.Now().Add(maxCommit)
	for _, p := range batch {
		if !p.take() {
			continue // its caller has its answer: the row is not written
		}
		d, ok := p.ctx.Deadline()
		if ok && !time.Now().Before(d) {
			p.result <- fmt.Errorf("ledger row %s: deadline passed while queued: %w", p.row.TraceID, context.DeadlineExceeded)
			continue
		}
		if ok && d.Before(deadline) {
			deadline = d
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	batch = live
	rows := make([]store.LedgerRow, len(batch))
	for i, p := range batch {
		rows[i] = p.row
	}
	// The store gets a context of its own, bounded by the rows' deadlines
	// but not cancelled with any caller: a caller that went away must not
	// abort a transaction holding other callers' rows.
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	errs, err := b.st.AppendLedger(ctx, rows)
	cancel()
	if err == nil {
		for i, p := range batch {
			p.result <- errs[i]
		}
		return
	}
	if len(batch) == 1 {
		batch[0].result <- err
		return
	}
	for _, p := range batch {
		b.commit([]*pending{p})
	}
}

// Answer returns the recorded answer to appKey's requestID (a row carrying a
// content digest), or an error wrapping store.ErrNotFound.
func (b *Book) Answer(ctx context.Context, appKey, requestID string) (store.LedgerRow, error) {
	return b.st.FindAnswer(ctx, appKey, requestID)
}

// DayUsage is one merchant's calls on one UTC day.
type DayUsage struct {
	AppKey  string           `json:"app_key"`
	Day     string           `json:"day"`
	Calls   int64            `json:"calls"`
	Charged int64            `json:"charged"`
	ByCode  map[string]int64 `json:"by_code"`
	// UpstreamCharged is what the supplier billed us for that day, to be
	// compared with its bill.
	UpstreamCharged int64 `json:"upstream_charged"`
}

// Usage reports per-merchant, per-day usage of the rows f selects, ordered by
// merchant then day.
func Usage(ctx context.Context, st store.Ledger, f store.LedgerFilter) ([]DayUsage, error) {
	rows, err := st.LedgerUsage(ctx, f)
	if err != nil {
		return nil, err
	}
	var out []DayUsage
	for _, r := range rows {
		if n := len(out); n == 0 || out[n-1].AppKey != r.AppKey || out[n-1].Day != r.Day {
			out = append(out, DayUsage{AppKey: r.AppKey, Day: r.Day, ByCode: map[string]int64{}})
		}
		d := &out[len(out)-1]
		d.Calls += r.Calls
		d.Charged += r.Charged
		d.UpstreamCharged += r.UpstreamCharged
		d.ByCode[r.Code] += r.Calls
	}
	return out, nil
}

// CSVHeader names the columns CSVWriter writes.
var CSVHeader = []string{"time", "trace_id", "app_key", "request_id", "code", "result", "id_name", "photo", "score",
	"reason", "charge", "latency_ms", "id_number", "upstream_trace_id", "upstream_charge"}

// CSVWriter writes ledger rows as CSV, one call a line after CSVHeader, for
// an operator to hand to a merchant in a dispute. The ID number is the
// stored, masked one; there is no selfie to write.
type CSVWriter struct{ w *safecsv.Writer }

// NewCSVWriter writes the header to w.
func NewCSVWriter(w io.Writer) (*CSVWriter, error) {
	c := &CSVWriter{w: safecsv.NewWriter(w)}
	return c, c.w.Write(CSVHeader)
}

// Write writes one row.
func (c *CSVWriter) Write(r store.LedgerRow) error {
	return c.w.Write([]string{
		r.Time.UTC().Format(time.RFC3339Nano), r.TraceID, r.AppKey, r.RequestID, r.Code,
		strconv.Itoa(r.Result), strconv.Itoa(r.IDName), strconv.Itoa(r.Photo), strconv.FormatFloat(r.Score, 'f', -1, 64),
		r.Reason, flag(r.Charged), strconv.FormatFloat(float64(r.Latency.Microseconds())/1000, 'f', -1, 64),
		r.IDMasked, r.UpstreamTraceID, flag(r.UpstreamCharged),
	})
}

// Flush writes what is buffered and reports any error so far.
func (c *CSVWriter) Flush() error { return c.w.Flush() }

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

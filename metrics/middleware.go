package metrics

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/portrait-id/portrait/api"
)

// envelopeLimit is how much of an answer is kept to read its code and
// charge: the document's envelope is a few hundred bytes.
const envelopeLimit = 4 << 10

// Middleware counts every answer of the verification API by the code and
// charge it carries on the wire, with its latency; other paths pass through
// uncounted. Reading the envelope itself, which the document fixes, keeps the
// count true to what clients received, whichever layer decided the answer.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != api.Path {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		var env struct {
			Code   string `json:"code"`
			Charge int    `json:"charge"`
		}
		// An answer that is not an envelope (a handler bug) is counted as
		// 9999 uncharged: the client got no code of the document.
		json.Unmarshal(rec.head.Bytes(), &env)
		m.ObserveCall(env.Code, env.Charge == 1, time.Since(start))
	})
}

// recorder passes an answer through, keeping its first envelopeLimit bytes.
type recorder struct {
	http.ResponseWriter
	head bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	if room := envelopeLimit - r.head.Len(); room > 0 {
		r.head.Write(p[:min(room, len(p))])
	}
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

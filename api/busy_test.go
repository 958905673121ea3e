package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/gate"
	"github.com/portrait-id/portrait/verify"
)

// A client still sending a large body when the body budget says busy gets
// the 1006 answer, not a reset connection: the server reads the body into
// nothing before answering. The client writes its whole body, slowly, before
// it reads anything — as HttpURLConnection does — for longer than the
// half-second net/http lingers before closing on a body it did not read.
func TestBusyAnswerReachesAClientStillSending(t *testing.T) {
	bodies := gate.NewBudget("bodies", 1<<20, 10*time.Millisecond, nil)
	hold, err := bodies.Take(context.Background(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer hold()
	srv := httptest.NewServer(NewHandler(&fakeVerifier{out: verify.Outcome{}}, Options{Logger: slog.New(slog.DiscardHandler), Bodies: bodies}))
	defer srv.Close()

	v := url.Values{"app_key": {"pk_x"}, "request_id": {"r1"}, "id_number": {"110105199003071239"}, "name": {"章子怡"},
		"timestamp": {"1"}, "sign": {strings.Repeat("0", 32)}}
	body := v.Encode() + "&selfie_base64=" + strings.Repeat("A", 2_000_000)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: portrait\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", Path, len(body))
	for rest := body; rest != ""; {
		n := min(len(rest), 64<<10)
		if _, err := io.WriteString(conn, rest[:n]); err != nil {
			t.Fatalf("the server cut the body off after %d of %d bytes: %v", len(body)-len(rest), len(body), err)
		}
		rest = rest[n:]
		time.Sleep(25 * time.Millisecond) // ~0.8 s in all
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the client got no answer: %v", err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	r, err := client.ParseResponse(raw)
	if err != nil || r.Code != client.CodeRateLimited {
		t.Errorf("answer %s (%v), want code 1006", raw, err)
	}
}

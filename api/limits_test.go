package api

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/verify"
)

// rawCall opens a TCP connection to the fixture, sends head, then feeds the
// body from send until it fails or the answer has arrived, and returns the
// answer and how many body bytes were written.
func rawCall(t *testing.T, f *fixture, head string, send func(conn net.Conn, done *atomic.Bool) int64) (*http.Response, int64) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	sent := make(chan int64, 1)
	go func() { sent <- send(conn, &done) }()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	done.Store(true)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer res.Body.Close()
	b := make([]byte, 4096)
	n, _ := res.Body.Read(b)
	res.Body = nil
	got, err := client.ParseResponse(b[:n])
	if err != nil {
		t.Fatal(err)
	}
	if got.Msg != "请求参数错误: body over 3 MB" {
		t.Errorf("answer %s", b[:n])
	}
	return res, <-sent
}

// A declared length over the limit is refused before any of the body is
// read: the client never sends it and still gets its answer.
func TestBodyOverLimitDeclared(t *testing.T) {
	f := newFixture(t, verify.Outcome{})
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", Path, 10<<20)
	_, sent := rawCall(t, f, head, func(net.Conn, *atomic.Bool) int64 { return 0 })
	if sent != 0 {
		t.Errorf("sent %d", sent)
	}
}

// A chunked body is cut off at the limit: the answer arrives while the
// client is still sending an endless body.
func TestBodyOverLimitChunked(t *testing.T) {
	for _, ct := range []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=b"} {
		t.Run(ct, func(t *testing.T) {
			f := newFixture(t, verify.Outcome{})
			head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n", Path, ct)
			const endless = 256 << 20
			prefix := "app_key=k&selfie_base64="
			if strings.HasPrefix(ct, "multipart") {
				prefix = "--b\r\nContent-Disposition: form-data; name=\"selfie_base64\"\r\n\r\n"
			}
			_, sent := rawCall(t, f, head, func(conn net.Conn, done *atomic.Bool) int64 {
				chunk := []byte(fmt.Sprintf("%x\r\n%s%s\r\n", 64<<10, prefix, strings.Repeat("A", 64<<10-len(prefix))))
				first := true
				var n int64
				for n < endless && !done.Load() {
					if !first {
						chunk = []byte(fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("A", 64<<10)))
					}
					first = false
					if _, err := conn.Write(chunk); err != nil {
						break
					}
					n += 64 << 10
				}
				return n
			})
			if sent >= endless {
				t.Errorf("the whole body was sent (%d bytes) before the answer", sent)
			}
			if sent < MaxBodyBytes {
				t.Errorf("answered after only %d bytes", sent)
			}
		})
	}
}

package api

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewServerLimits(t *testing.T) {
	s := NewServer("127.0.0.1:0", http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Fatalf("unbounded server: %+v", s)
	}
	// The write deadline starts with the request: it must leave time to
	// read a full body and answer.
	if s.WriteTimeout <= s.ReadTimeout {
		t.Errorf("WriteTimeout %s does not outlast ReadTimeout %s", s.WriteTimeout, s.ReadTimeout)
	}
}

// dialServer serves the handler through NewServer, with its real limits, on
// loopback and returns a raw connection to it; both close with the test.
func dialServer(t *testing.T) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer("", NewHandler(&fakeVerifier{}, Options{}))
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Headers over MaxHeaderBytes are refused by the server itself.
func TestNewServerHeaderLimit(t *testing.T) {
	conn := dialServer(t)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write([]byte("POST " + Path + " HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2*MaxHeaderBytes) + "\r\n\r\n"))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d", res.StatusCode)
	}
}

// A slow-loris client trickling its headers one byte at a time is cut off
// once ReadHeaderTimeout has passed, so it cannot hold a connection forever.
func TestNewServerCutsOffSlowHeaders(t *testing.T) {
	t.Parallel()
	conn := dialServer(t)
	start := time.Now()
	if _, err := conn.Write([]byte("POST " + Path + " HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	limit := ReadHeaderTimeout + 3*time.Second
	for time.Since(start) < limit {
		if _, err := conn.Write([]byte("X")); err != nil {
			break // the server has closed the connection
		}
		conn.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
		if _, err := conn.Read(make([]byte, 1)); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue // still open: trickle on
			}
			break // closed (EOF or reset)
		}
		break // an answer arrived: the server gave up on the request too
	}
	if took := time.Since(start); took >= limit {
		t.Fatalf("a client trickling headers held its connection for %s (ReadHeaderTimeout %s)", took, ReadHeaderTimeout)
	} else if took < ReadHeaderTimeout-time.Second {
		t.Fatalf("connection closed after %s, before ReadHeaderTimeout %s: not the timeout at work", took, ReadHeaderTimeout)
	}
}

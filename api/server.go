package api

import (
	"net/http"
	"time"
)

// Server timeouts. A call uploads at most MaxBodyBytes: ReadTimeout lets a
// slow mobile uplink (≈1 Mbit/s) finish 3 MiB, and no slower client can hold
// a connection longer. WriteTimeout runs from the end of the headers, so it
// must cover reading the body, deciding the call and writing the answer.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 45 * time.Second
	IdleTimeout       = 60 * time.Second
	MaxHeaderBytes    = 16 << 10
)

// NewServer returns an HTTP server for h on addr with the timeouts and header
// limit above, so that a slow or hostile client cannot hold a worker forever.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

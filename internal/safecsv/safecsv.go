// Package safecsv writes CSV that a spreadsheet opens as data: a cell
// starting with a character that would make it a formula (= + - @, tab,
// carriage return) is prefixed with an apostrophe, since exported values
// (a merchant's request_id, a name typed at a login form) are chosen by
// people outside.
package safecsv

import (
	"encoding/csv"
	"io"
	"strings"
)

// Writer is a csv.Writer that defuses formula cells.
type Writer struct {
	w   *csv.Writer
	buf []string
}

// NewWriter writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w)} }

// Write writes one record.
func (w *Writer) Write(record []string) error {
	w.buf = w.buf[:0]
	for _, s := range record {
		w.buf = append(w.buf, Cell(s))
	}
	return w.w.Write(w.buf)
}

// Flush writes what is buffered and reports any error so far.
func (w *Writer) Flush() error {
	w.w.Flush()
	return w.w.Error()
}

// Cell is s as a cell that no spreadsheet runs.
func Cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

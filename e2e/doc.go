// Package e2e drives the assembled service (package app, real SQLite, real
// face models) through real HTTP on loopback: every code and data shape of
// the document through the merchants' SDK and raw bodies, the document's
// Java client, `portrait verify`, and the protocol path's throughput. It
// holds tests only.
package e2e

// Package cluster holds the tests of several instances acting as one service
// and of the faults they must survive: real `app` instances, each behind its
// own HTTP server on loopback, sharing one real PostgreSQL and one real
// Redis (PORTRAIT_TEST_POSTGRES, PORTRAIT_TEST_REDIS), calling through the
// merchant SDK with real photos and the real face pipeline. Faults are
// caused for real: a dependency is cut by a TCP proxy (package faultproxy).
// The package has no code of its own beyond that proxy.
package cluster

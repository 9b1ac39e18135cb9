// Package live holds the live-connection test of the daemon: an MPTCP
// transfer between two network namespaces keeps all its subflows while
// `mptcpd run` goes through dozens of reloads of every kind (identical
// rewrites of the file, SIGHUP, `mptcpd reload`, backup flips done in place)
// and one restart. The kernel's own MPTCP event stream, read in both
// namespaces, is the witness: no subflow or connection may close, and the
// peer must see every backup flip as a priority change.
//
// It runs the built daemon as a child process against the real kernel and
// needs root; without it the test fails (MPTCPD_SKIP_PRIVILEGED=1 skips).
package live

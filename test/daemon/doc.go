// Package daemon holds the end-to-end tests of `mptcpd run`: the daemon is
// built once and started as a child process in throwaway network
// namespaces, then driven the way hosts drive it (file edits of every kind,
// SIGHUP, `mptcpd reload`, `ip link` and `ip addr`, changes made by hand
// with `ip mptcp`, a storm of address events, SIGTERM and restarts), with
// `ip mptcp` as the reference for what the kernel holds and `mptcpd status`
// for what the daemon says. A fake NOTIFY_SOCKET checks the sd_notify
// sequence.
//
// The tests need root and a kernel with MPTCP; like every integration test
// of the module they fail, never skip, when they cannot run (set
// MPTCPD_SKIP_PRIVILEGED=1 to skip them while developing without root).
package daemon

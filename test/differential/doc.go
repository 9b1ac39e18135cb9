// Package differential holds the differential test of mptcpd's ip-mptcp
// command line: one random sequence of endpoint and limits commands, valid
// and invalid, is run through iproute2's `ip mptcp` in one fresh network
// namespace and through the built mptcpd binary in another set up the same
// way, and after every step both must agree on success or failure, both
// kernels must hold the same state, and mptcpd must print what ip prints.
//
// It runs against the real kernel and needs root. MPTCPD_DIFF_STEPS sets
// the number of steps (default 500), MPTCPD_DIFF_SEED the seed (default:
// the time); the seed is printed at the start, and a failure prints the
// steps that led to it.
package differential

// Package declarative holds the end-to-end tests of the declarative
// commands (check, plan, apply, show) as a user runs them: the mptcpd
// binary is built once and run as a process against throwaway network
// namespaces, with `ip mptcp` and the namespace's net.mptcp sysctls as the
// reference for what the kernel holds.
//
// Most tests need root and a kernel with MPTCP; like every integration test
// of the module they fail, never skip, when they cannot run (set
// MPTCPD_SKIP_PRIVILEGED=1 to skip them while developing without root).
package declarative

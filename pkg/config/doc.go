// Package config reads /etc/mptcpd.yaml into a validated Config. Decoding
// walks the YAML node tree so that every error names FILE:LINE:COL and says
// what would be right. It knows nothing of netlink.
//
// Parse reports every problem of a file at once, as Errors in line order;
// a file with any problem yields no Config, so a bad edit never reaches the
// kernel. The rules follow what the kernel refuses (a port only on a
// signal-only endpoint, no signal with fullmesh, one endpoint per address and
// port, unique ids, 8 endpoints, limits up to 8) and what the file format
// decides for clarity:
//
//   - flags are always a list; integers are decimal; YAML aliases and local
//     tags are refused;
//   - a key without a value is an error, never "absent" or "empty", since
//     for endpoints those mean opposite things;
//   - sysctl names may carry the net.mptcp. prefix or not; 0|1 sysctls
//     also take false/true;
//   - an empty file, or one of only comments, is valid and manages nothing.
//
// Format writes a Config back as a canonical file that Parse reads to an
// equal Config. CheckFileSecurity and the RequireSecureFile option of Load
// refuse a file that someone other than root could change.
//
// docs/config.md is the reference of the format; its snippets and its list
// of messages are checked against this package by the tests.
package config

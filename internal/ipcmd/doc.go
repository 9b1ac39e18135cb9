// Package ipcmd is the command language of ip-mptcp(8), spoken by mptcpd's
// command line: `mptcpd endpoint add 192.0.2.1 subflow` does what
// `ip mptcp endpoint add 192.0.2.1 subflow` does, and `endpoint show` and
// `limits show` print byte for byte what iproute2 prints for the same kernel
// state (with -j, its JSON), so that a person who knows `ip mptcp` has
// nothing new to learn.
//
// Parse turns words into a Command without any I/O; Run parses and executes
// one command against a Kernel; Batch runs a file of commands like
// `ip -batch`, all on one Kernel session, which is what makes a batch
// cheaper than as many processes.
//
// The language is iproute2 6.1's: keywords may be abbreviated to any prefix
// with iproute2's precedence, numbers may be hex or octal, IPv4 addresses may
// use the legacy short forms ("10.8"), and `endpoint change` sets backup and
// fullmesh to exactly the flags named. Where it differs, on purpose:
//
//   - Additions: the laminar flag (Linux 6.18); -j for `limits show` (one
//     object) and `monitor` (one object per line); help at every level;
//     batch lines may start with "mptcp", so files written for `ip -batch`
//     run unchanged.
//   - Exit statuses: 0 success, 1 refused by the kernel (or another
//     failure), 2 usage error; ip uses 2 for the kernel and 255 (or 1, for
//     a word that is no address) for usage.
//   - Usage errors where ip 6.1 sends a request that the kernel can only
//     refuse: `endpoint change` with neither an id nor an address,
//     `endpoint show id 0` (as newer iproute2), `show` with arguments other
//     than id, and "any", "default" or "all" as an address.
//   - Usage errors where ip ignores arguments: after `endpoint flush` (ip
//     would flush everything on `flush id 3`) and `limits show`; and
//     `limits m`, on which ip falls through to its monitor.
//   - In a batch, every failed line is reported as "Command failed
//     FILE:LINE" and -force goes on past any failure; ip exits at once on a
//     usage error, even with -force.
//   - Output: implicit endpoints show as "implicit" (newer iproute2; 6.1
//     prints "rawflags 10"); monitor lines use current iproute2's format,
//     whose event column is 16 wide and names the listener events.
package ipcmd

// Package control is the daemon's root-only unix socket and its client: the
// way `mptcpd reload` (ExecReload= of the unit) and `mptcpd status` talk to
// the running daemon.
//
// A reload through the socket is synchronous: the client returns once the
// daemon has applied or rejected the file, and fails when it was rejected.
// That makes `systemctl reload mptcpd` report the outcome on every systemd,
// including 252 (Debian 12), which has no Type=notify-reload.
//
// The protocol is one JSON request line and one JSON response line per
// connection:
//
//	-> {"v":1,"op":"reload"}
//	<- {"v":1,"reload":{"result":"applied","path":"/etc/mptcpd.yaml",...}}
//	-> {"v":1,"op":"status"}
//	<- {"v":1,"status":{"daemon":{"pid":42,...},...}}
//	<- {"v":1,"error":"...","code":"permission_denied"}
//
// A peer that is not root (nor the daemon's own user) is refused, even if
// the socket's mode would let it connect.
package control

import "time"

// DefaultTimeout is how long a client waits for an answer unless told
// otherwise. It is below systemd's default reload timeout (90 s), so that
// `systemctl reload` shows mptcpd's message rather than killing the client.
const DefaultTimeout = 60 * time.Second

// ProtocolVersion is the "v" of every request and response. A change that
// old peers would misread gets a new version; added fields do not.
const ProtocolVersion = 1

// Operations.
const (
	opReload = "reload"
	opStatus = "status"
)

// Error codes in a response, for the client to tell failures apart.
const (
	codePermissionDenied = "permission_denied"
	codeBadRequest       = "bad_request"
)

type request struct {
	V  int    `json:"v"`
	Op string `json:"op"`
}

type response struct {
	V      int           `json:"v"`
	Reload *ReloadResult `json:"reload,omitempty"`
	Status *Status       `json:"status,omitempty"`
	Error  string        `json:"error,omitempty"`
	Code   string        `json:"code,omitempty"`
}

// Reload outcomes.
const (
	// Applied: the file was valid and the kernel now matches it.
	Applied = "applied"
	// Rejected: the file was invalid or unreadable; the previous config
	// stays in force and the kernel was not touched.
	Rejected = "rejected"
	// Failed: the file was valid and is now in force, but some changes
	// could not be made (the kernel's errors are listed).
	Failed = "failed"
)

// ReloadResult is the daemon's answer to a reload.
type ReloadResult struct {
	// Result is Applied, Rejected or Failed.
	Result string `json:"result"`
	Path   string `json:"path"`
	// SHA256 is the hex digest of the file that was read.
	SHA256 string `json:"sha256,omitempty"`
	// Changes is the number of changes made to the kernel.
	Changes int `json:"changes"`
	// Errors are FILE:LINE:COL: MESSAGE lines when Rejected, the failed
	// changes with the kernel's message when Failed.
	Errors []string `json:"errors,omitempty"`
}

// OK reports whether the reload succeeded, which is what `mptcpd reload`
// turns into its exit status.
func (r ReloadResult) OK() bool { return r.Result == Applied }

package pm

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrNotSupported reports that this kernel has no MPTCP path manager (the
// mptcp_pm generic netlink family is not registered): MPTCP is not built in,
// or the kernel is older than 5.7.
var ErrNotSupported = errors.New("this kernel has no MPTCP path manager (generic netlink family \"mptcp_pm\" not found; needs Linux 5.7+ with CONFIG_MPTCP)")

// ErrPermission matches (errors.Is) any request the kernel refused for lack
// of privilege: changing endpoints or limits, and listening to events, needs
// CAP_NET_ADMIN over the network namespace.
var ErrPermission = errors.New("operation not permitted: changing MPTCP endpoints or limits, or listening to MPTCP events, needs CAP_NET_ADMIN in the network namespace (run as root)")

// ErrIDZero is returned by DeleteEndpoint for id 0. The kernel answers such a
// request with success without deleting anything, and tears down the initial
// subflow of every connection from the given address instead.
var ErrIDZero = errors.New("endpoint id 0 names no endpoint: deleting it would not remove an endpoint but would close the initial subflows of live connections (use CloseInitialSubflows if that is what you want)")

// Error is a request the kernel refused, or that could not be sent.
type Error struct {
	// Op names the request, such as "add endpoint".
	Op string
	// Err is the cause: a unix.Errno when the kernel refused the request.
	Err error
	// Message is the kernel's extended-ack text, when it gave one.
	Message string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %v", e.Op, e.Err)
	if e.Message != "" {
		msg += " (kernel: " + e.Message + ")"
	}
	if e.Is(ErrPermission) {
		msg += ": needs CAP_NET_ADMIN in the network namespace"
	}
	return msg
}

// Unwrap gives the errno, so that errors.Is(err, unix.EEXIST) works.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrPermission) match EPERM and EACCES refusals.
func (e *Error) Is(target error) bool {
	return target == ErrPermission && (errors.Is(e.Err, unix.EPERM) || errors.Is(e.Err, unix.EACCES))
}

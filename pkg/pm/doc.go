// Package pm is a client for the kernel's MPTCP in-kernel path manager, the
// "mptcp_pm" generic netlink family: endpoints, limits and events.
//
// Every request goes through one place that picks the right header flags
// (never an ACK flag on a get, which would leave a stray ACK on the socket)
// and turns netlink failures into *Error values that keep both the errno and
// the kernel's extended-ack text. Operations that the kernel would carry out
// in a surprising, destructive way are refused here: deleting "id 0" never
// deletes an endpoint but tears down initial subflows, so DeleteEndpoint
// rejects it; SET_FLAGS without flags clears backup and fullmesh, so SetFlags
// always sends both.
package pm

// Package mptcp holds the value types of the kernel's MPTCP path manager:
// endpoints, their flags and the per-namespace limits. It has no I/O, so the
// config loader, the planner and the netlink client can all share it.
package mptcp

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// MaxEndpoints is the kernel's cap on endpoints per network namespace
// (MPTCP_PM_ADDR_MAX). The ninth ADD fails with ERANGE.
const MaxEndpoints = 8

// MaxLimit is the highest value either limit accepts (MPTCP_PM_ADDR_MAX).
const MaxLimit = 8

// ErrAddedNotReadBack marks an add the kernel acknowledged whose endpoint
// could not be read back: it exists, but its id may be unknown. Whoever
// records what was created must still record it.
var ErrAddedNotReadBack = errors.New("the kernel added the endpoint, but reading it back failed")

// Flags are the endpoint flags of the in-kernel path manager
// (MPTCP_PM_ADDR_FLAG_*).
type Flags uint32

// The endpoint flags. Implicit is set by the kernel only; asking for it is
// refused with EINVAL.
const (
	FlagSignal   Flags = 0x01
	FlagSubflow  Flags = 0x02
	FlagBackup   Flags = 0x04
	FlagFullmesh Flags = 0x08
	FlagImplicit Flags = 0x10
	FlagLaminar  Flags = 0x20
)

// KnownFlags is every flag bit this package can name.
const KnownFlags = FlagSignal | FlagSubflow | FlagBackup | FlagFullmesh | FlagImplicit | FlagLaminar

// MutableFlags are the only bits SET_FLAGS changes in place; every other
// difference needs a delete and an add.
const MutableFlags = FlagBackup | FlagFullmesh

// flagNames lists the flags in the order iproute2 prints them.
var flagNames = []struct {
	flag Flags
	name string
}{
	{FlagSignal, "signal"},
	{FlagSubflow, "subflow"},
	{FlagBackup, "backup"},
	{FlagFullmesh, "fullmesh"},
	{FlagImplicit, "implicit"},
	{FlagLaminar, "laminar"},
}

// Names returns the names of the known flags that are set, in iproute2's
// order, followed by "rawflags HEX" for any unknown bits (as iproute2 does).
func (f Flags) Names() []string {
	var names []string
	for _, fn := range flagNames {
		if f&fn.flag != 0 {
			names = append(names, fn.name)
		}
	}
	if rest := f &^ KnownFlags; rest != 0 {
		names = append(names, fmt.Sprintf("rawflags %x", uint32(rest)))
	}
	return names
}

// String joins Names with spaces; the empty set prints as "".
func (f Flags) String() string { return strings.Join(f.Names(), " ") }

// Has reports whether every bit of g is set in f.
func (f Flags) Has(g Flags) bool { return f&g == g }

// FlagNames returns the names ParseFlag accepts, in iproute2's order.
func FlagNames() []string {
	names := make([]string, len(flagNames))
	for i, fn := range flagNames {
		names[i] = fn.name
	}
	return names
}

// ParseFlag returns the flag with the given name (exact match).
func ParseFlag(name string) (Flags, bool) {
	for _, fn := range flagNames {
		if fn.name == name {
			return fn.flag, true
		}
	}
	return 0, false
}

// Endpoint is one entry of the kernel's endpoint table.
type Endpoint struct {
	// ID identifies the endpoint on the wire (ADD_ADDR / RM_ADDR); 1..255.
	// Zero in a request means "let the kernel choose".
	ID uint8
	// Addr is the local address, never IPv4-mapped IPv6.
	Addr netip.Addr
	// Port is the port of a signal endpoint's listener; 0 means none.
	Port uint16
	// Flags are the endpoint flags.
	Flags Flags
	// IfIndex binds subflows to a device; 0 means none.
	IfIndex int32
}

// String renders the endpoint for logs and errors.
func (e Endpoint) String() string {
	var b strings.Builder
	b.WriteString(e.Addr.String())
	if e.Port != 0 {
		fmt.Fprintf(&b, " port %d", e.Port)
	}
	// Id 0 means "the kernel chooses"; printing it would suggest the id
	// whose delete tears down initial subflows.
	if e.ID != 0 {
		fmt.Fprintf(&b, " id %d", e.ID)
	}
	if f := e.Flags.String(); f != "" {
		b.WriteString(" " + f)
	}
	if e.IfIndex != 0 {
		fmt.Fprintf(&b, " ifindex %d", e.IfIndex)
	}
	return b.String()
}

// Limits are the in-kernel path manager's per-namespace limits.
type Limits struct {
	// AddAddrAccepted is how many ADD_ADDR announcements a connection
	// accepts (MPTCP_PM_ATTR_RCV_ADD_ADDRS).
	AddAddrAccepted uint32
	// Subflows is the maximum number of additional subflows a connection
	// may have (MPTCP_PM_ATTR_SUBFLOWS).
	Subflows uint32
}

// LimitsUpdate changes either limit or both; a nil field is left alone.
// SET_LIMITS applies all that it is given or nothing.
type LimitsUpdate struct {
	AddAddrAccepted *uint32
	Subflows        *uint32
}

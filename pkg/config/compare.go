package config

import (
	"slices"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
)

// Equal reports whether two configs ask the kernel for the same thing.
// Where things stand in the file (Pos, Path) does not count, nor does the
// difference between an absent and an empty sysctl section, which both set
// nothing. The daemon uses it to tell an edit that changes nothing.
func (c *Config) Equal(d *Config) bool {
	if c == nil || d == nil {
		return c == d
	}
	return c.Version == d.Version &&
		c.Ownership == d.Ownership &&
		c.ManageEndpoints == d.ManageEndpoints &&
		limitsEqual(c.Limits, d.Limits) &&
		slices.EqualFunc(c.Endpoints, d.Endpoints, func(a, b Entry) bool {
			a.Pos, b.Pos = Position{}, Position{}
			return a == b
		}) &&
		slices.EqualFunc(c.Sysctls, d.Sysctls, func(a, b Sysctl) bool {
			return a.Name == b.Name && a.Value == b.Value
		})
}

func limitsEqual(a, b *mptcp.LimitsUpdate) bool {
	if a == nil || b == nil {
		return a == b
	}
	return uint32PtrEqual(a.Subflows, b.Subflows) && uint32PtrEqual(a.AddAddrAccepted, b.AddAddrAccepted)
}

func uint32PtrEqual(a, b *uint32) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Endpoint returns the kernel endpoint a fixed entry asks for, bound to
// ifIndex (the index of Dev, which only the caller can resolve; 0 for
// none). It must not be called on an interface entry, whose endpoints are
// its interface's addresses.
func (e Entry) Endpoint(ifIndex int32) mptcp.Endpoint {
	return mptcp.Endpoint{ID: e.ID, Addr: e.Address, Port: e.Port, Flags: e.Flags, IfIndex: ifIndex}
}

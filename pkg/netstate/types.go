package netstate

import "net/netip"

// Link is a network interface as rtnetlink reports it.
type Link struct {
	Index int32
	Name  string
	// AdminUp is IFF_UP: someone set the link up.
	AdminUp bool
	// LowerUp is IFF_LOWER_UP: the link has carrier (a cable, a peer).
	LowerUp bool
	// Loopback is IFF_LOOPBACK.
	Loopback bool
}

// Usable reports whether endpoints on this link can carry subflows: it is
// set up and has carrier.
func (l Link) Usable() bool { return l.AdminUp && l.LowerUp }

// Address is one address assigned to a link.
type Address struct {
	IfIndex   int32
	Addr      netip.Addr
	PrefixLen uint8
	// Scope is the rtnetlink scope (0 universe, 253 link, 254 host).
	Scope uint8
	// IPv6 states (IFA_F_*): an address is not usable while Tentative
	// (duplicate address detection running) or once DADFailed.
	Tentative  bool
	DADFailed  bool
	Temporary  bool // a privacy address (IFA_F_TEMPORARY)
	Deprecated bool // preferred lifetime ran out
	Optimistic bool
}

// Snapshot is the links and addresses of one namespace at one moment.
type Snapshot struct {
	Links []Link
	Addrs []Address
}

// LinkByName returns the link with the given name.
func (s Snapshot) LinkByName(name string) (Link, bool) {
	for _, l := range s.Links {
		if l.Name == name {
			return l, true
		}
	}
	return Link{}, false
}

// LinkByIndex returns the link with the given index.
func (s Snapshot) LinkByIndex(index int32) (Link, bool) {
	for _, l := range s.Links {
		if l.Index == index {
			return l, true
		}
	}
	return Link{}, false
}

// AddrsOf returns the addresses assigned to the link with the given index.
func (s Snapshot) AddrsOf(index int32) []Address {
	var out []Address
	for _, a := range s.Addrs {
		if a.IfIndex == index {
			out = append(out, a)
		}
	}
	return out
}

// FindAddr returns every assignment of addr (an address may be assigned to
// more than one link).
func (s Snapshot) FindAddr(addr netip.Addr) []Address {
	var out []Address
	for _, a := range s.Addrs {
		if a.Addr == addr {
			out = append(out, a)
		}
	}
	return out
}

package reconcile

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/mptcpd/mptcpd/pkg/config"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/netstate"
)

// scopeHost is the rtnetlink scope of addresses only the host itself can
// reach (RT_SCOPE_HOST), like loopback ones.
const scopeHost = 254

// want is one endpoint the file asks for that is usable now.
type want struct {
	entry int
	ep    mptcp.Endpoint // ID is the entry's explicit id, or 0
	dev   string
}

// expansion is the file's endpoints resolved against the host.
type expansion struct {
	wants    []want
	withheld []Withheld
	// reasons maps an address the file wants to why it is withheld, so
	// that the delete of an installed one can say why.
	reasons map[netip.Addr]string
}

// expand resolves the file's entries against the host's links and
// addresses, in file order.
func expand(entries []config.Entry, net netstate.Snapshot) expansion {
	x := expansion{reasons: map[netip.Addr]string{}}
	claimed := map[netip.Addr]int{}
	claim := func(i int, addr netip.Addr) bool {
		if by, ok := claimed[addr]; ok && by != i {
			return false
		}
		claimed[addr] = i
		return true
	}
	for i, e := range entries {
		if e.IsInterface() {
			x.expandInterface(i, e, net, claim, claimed)
		} else {
			x.expandFixed(i, e, net, claim, claimed)
		}
	}
	return x
}

func (x *expansion) withhold(w Withheld) {
	x.withheld = append(x.withheld, w)
	if w.Address.IsValid() {
		if _, ok := x.reasons[w.Address]; !ok {
			x.reasons[w.Address] = w.Reason
		}
	}
}

func (x *expansion) expandFixed(i int, e config.Entry, net netstate.Snapshot, claim func(int, netip.Addr) bool, claimed map[netip.Addr]int) {
	addr := e.Address.Unmap()
	w := Withheld{Entry: i, Address: addr, Port: e.Port, Dev: e.Dev}
	if !addr.IsValid() {
		return
	}
	if !claim(i, addr) {
		w.Reason, w.Detail = ReasonClaimed, fmt.Sprintf("entry %d", claimed[addr]+1)
		x.withheld = append(x.withheld, w)
		return
	}
	ifindex, reason, detail := fixedUsable(addr, e.Dev, net)
	if reason == "" && !canListen(addr, e.Port) {
		reason, detail = ReasonNoListener, noListenerDetail
	}
	if reason != "" {
		w.Reason, w.Detail = reason, detail
		x.withhold(w)
		return
	}
	x.wants = append(x.wants, want{
		entry: i,
		ep:    mptcp.Endpoint{ID: e.ID, Addr: addr, Port: e.Port, Flags: e.Flags, IfIndex: ifindex},
		dev:   e.Dev,
	})
}

// fixedUsable says whether a fixed entry's address is usable, and with
// which ifindex; reason is "" when it is.
func fixedUsable(addr netip.Addr, dev string, net netstate.Snapshot) (ifindex int32, reason, detail string) {
	if dev != "" {
		link, ok := net.LinkByName(dev)
		if !ok {
			return 0, ReasonDeviceMissing, fmt.Sprintf("no device %s", dev)
		}
		if !link.Usable() {
			return 0, ReasonLinkDown, linkState(link)
		}
		// IPv4 allows one address twice on a link (with two prefix
		// lengths): usable if either is.
		reason, detail = ReasonNotAssigned, fmt.Sprintf("not on %s", dev)
		for _, a := range net.AddrsOf(link.Index) {
			if a.Addr.Unmap() != addr {
				continue
			}
			r, d := addrState(a, dev)
			if r == "" {
				return link.Index, "", ""
			}
			if reason != ReasonDADFailed {
				reason, detail = r, d
			}
		}
		return 0, reason, detail
	}
	// No device: usable when assigned, in a usable state, on any usable
	// link. Otherwise report the most telling reason: a DAD state on a
	// usable link before a link that is down.
	reason, detail = ReasonNotAssigned, "not on any link"
	for _, a := range net.Addrs {
		if a.Addr.Unmap() != addr {
			continue
		}
		link, ok := net.LinkByIndex(a.IfIndex)
		if !ok {
			continue
		}
		if !link.Usable() {
			if reason == ReasonNotAssigned {
				reason, detail = ReasonLinkDown, linkState(link)
			}
			continue
		}
		r, d := addrState(a, link.Name)
		if r == "" {
			return 0, "", ""
		}
		if reason != ReasonDADFailed {
			reason, detail = r, d
		}
	}
	return 0, reason, detail
}

// addrState says why an assigned address is not usable ("" when it is). A
// failed DAD leaves the tentative flag set too, so it is checked first.
func addrState(a netstate.Address, dev string) (reason, detail string) {
	switch {
	case a.DADFailed:
		return ReasonDADFailed, fmt.Sprintf("on %s", dev)
	case a.Tentative:
		return ReasonTentative, fmt.Sprintf("on %s", dev)
	}
	return "", ""
}

func linkState(l netstate.Link) string {
	if !l.AdminUp {
		return fmt.Sprintf("%s is down", l.Name)
	}
	return fmt.Sprintf("%s has no carrier", l.Name)
}

func (x *expansion) expandInterface(i int, e config.Entry, net netstate.Snapshot, claim func(int, netip.Addr) bool, claimed map[netip.Addr]int) {
	w := Withheld{Entry: i, Port: e.Port, Dev: e.Interface}
	link, ok := net.LinkByName(e.Interface)
	if !ok {
		w.Reason, w.Detail = ReasonDeviceMissing, fmt.Sprintf("no device %s", e.Interface)
		x.withhold(w)
		return
	}
	addrs := interfaceAddrs(e, net.AddrsOf(link.Index))
	if !link.Usable() {
		// Still claim the addresses, so that which entry owns an address
		// does not depend on link state.
		for _, a := range addrs {
			addr := a.Addr.Unmap()
			if claim(i, addr) {
				x.reasons[addr] = ReasonLinkDown
			}
		}
		w.Reason, w.Detail = ReasonLinkDown, linkState(link)
		x.withhold(w)
		return
	}
	for _, a := range addrs {
		addr := a.Addr.Unmap()
		aw := w
		aw.Address = addr
		if !claim(i, addr) {
			if claimed[addr] != i {
				aw.Reason, aw.Detail = ReasonClaimed, fmt.Sprintf("entry %d", claimed[addr]+1)
				x.withheld = append(x.withheld, aw)
			}
			continue
		}
		reason, detail := addrState(a, link.Name)
		if reason == "" && !canListen(addr, e.Port) {
			reason, detail = ReasonNoListener, noListenerDetail
		}
		if reason != "" {
			aw.Reason, aw.Detail = reason, detail
			x.withhold(aw)
			continue
		}
		x.wants = append(x.wants, want{
			entry: i,
			ep:    mptcp.Endpoint{Addr: addr, Port: e.Port, Flags: e.Flags, IfIndex: link.Index},
			dev:   link.Name,
		})
	}
}

// interfaceAddrs picks the addresses an interface entry expands to, sorted
// by address (deterministic whatever order the host listed them in), each
// address once.
func interfaceAddrs(e config.Entry, addrs []netstate.Address) []netstate.Address {
	var out []netstate.Address
	for _, a := range addrs {
		addr := a.Addr.Unmap()
		switch {
		case !addr.IsValid():
		case e.Family == config.FamilyIPv4 && !addr.Is4():
		case e.Family == config.FamilyIPv6 && !addr.Is6():
		case addr.IsLoopback() || a.Scope == scopeHost:
		case addr.IsLinkLocalUnicast() && !e.IncludeLinkLocal:
		case isULA(addr) && !e.IncludeULA:
		case a.Temporary && !e.IncludeTemporary:
		case !addr.IsGlobalUnicast() && !addr.IsLinkLocalUnicast():
			// multicast, unspecified: never an endpoint
		default:
			out = append(out, a)
		}
	}
	// An address listed twice (IPv4 allows it with two prefix lengths)
	// counts once, by its most usable listing.
	slices.SortStableFunc(out, func(a, b netstate.Address) int {
		return cmp.Or(a.Addr.Unmap().Compare(b.Addr.Unmap()), cmp.Compare(unusability(a), unusability(b)))
	})
	return slices.CompactFunc(out, func(a, b netstate.Address) bool { return a.Addr.Unmap() == b.Addr.Unmap() })
}

const noListenerDetail = "the kernel's listening socket cannot bind it (EINVAL)"

// canListen reports whether the kernel can open the listening socket an
// endpoint with a port needs.
func canListen(addr netip.Addr, port uint16) bool {
	return port == 0 || !(addr.Is6() && addr.IsLinkLocalUnicast())
}

// unusability ranks an assigned address: usable, tentative, failed.
func unusability(a netstate.Address) int {
	switch {
	case a.DADFailed:
		return 2
	case a.Tentative:
		return 1
	}
	return 0
}

// isULA reports whether a is an IPv6 unique local address (fc00::/7).
func isULA(a netip.Addr) bool { return a.Is6() && a.As16()[0]&0xfe == 0xfc }

// sortWithheld orders withheld endpoints by entry, then address.
func sortWithheld(ws []Withheld) {
	slices.SortStableFunc(ws, func(a, b Withheld) int {
		return cmp.Or(cmp.Compare(a.Entry, b.Entry), a.Address.Compare(b.Address))
	})
}

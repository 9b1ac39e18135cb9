package reconcile_test

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/pkg/config"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/netstate"
	"github.com/mptcpd/mptcpd/pkg/reconcile"
)

// cmpAddr lets cmp compare netip.Addr values (unexported fields).
var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// ep parses an endpoint written as iproute2 prints one:
// "192.0.2.1 port 80 id 3 signal backup ifindex 2".
func ep(s string) mptcp.Endpoint {
	f := strings.Fields(s)
	e := mptcp.Endpoint{Addr: netip.MustParseAddr(f[0])}
	for i := 1; i < len(f); i++ {
		num := func() int {
			i++
			n, err := strconv.Atoi(f[i])
			if err != nil {
				panic(fmt.Sprintf("endpoint %q: %v", s, err))
			}
			return n
		}
		switch f[i] {
		case "id":
			e.ID = uint8(num())
		case "port":
			e.Port = uint16(num())
		case "ifindex":
			e.IfIndex = int32(num())
		default:
			flag, ok := mptcp.ParseFlag(f[i])
			if !ok {
				panic(fmt.Sprintf("endpoint %q: unknown word %q", s, f[i]))
			}
			e.Flags |= flag
		}
	}
	return e
}

func eps(ss ...string) []mptcp.Endpoint {
	var out []mptcp.Endpoint
	for _, s := range ss {
		out = append(out, ep(s))
	}
	return out
}

// fixed makes a fixed entry from ep's notation plus "dev NAME".
func fixed(s string) config.Entry {
	var dev string
	if i := strings.Index(s, " dev "); i >= 0 {
		dev = strings.Fields(s[i+5:])[0]
		s = s[:i] + strings.TrimPrefix(s[i+5:], dev)
	}
	e := ep(s)
	return config.Entry{Address: e.Addr, ID: e.ID, Port: e.Port, Flags: e.Flags, Dev: dev}
}

func iface(name string, flags mptcp.Flags) config.Entry {
	return config.Entry{Interface: name, Family: config.FamilyAny, Flags: flags}
}

func exclusive(entries ...config.Entry) *config.Config {
	return &config.Config{ManageEndpoints: true, Endpoints: entries, Ownership: config.Exclusive}
}

func shared(entries ...config.Entry) *config.Config {
	return &config.Config{ManageEndpoints: true, Endpoints: entries, Ownership: config.Shared}
}

// host is a typical host: lo, eth0 (2), eth1 (3), wlan0 (4), all up, with
// 192.0.2.1-8 on eth0, 198.51.100.1 and 2001:db8::1 on eth1.
func host() netstate.Snapshot {
	s := netstate.Snapshot{Links: []netstate.Link{
		{Index: 1, Name: "lo", AdminUp: true, LowerUp: true, Loopback: true},
		{Index: 2, Name: "eth0", AdminUp: true, LowerUp: true},
		{Index: 3, Name: "eth1", AdminUp: true, LowerUp: true},
		{Index: 4, Name: "wlan0", AdminUp: true, LowerUp: true},
	}}
	s.Addrs = append(s.Addrs, netstate.Address{IfIndex: 1, Addr: netip.MustParseAddr("127.0.0.1"), PrefixLen: 8, Scope: 254})
	for i := 1; i <= 8; i++ {
		s.Addrs = append(s.Addrs, addrOn(2, fmt.Sprintf("192.0.2.%d", i)))
	}
	s.Addrs = append(s.Addrs, addrOn(3, "198.51.100.1"), addrOn(3, "2001:db8::1"))
	return s
}

func addrOn(ifindex int32, a string) netstate.Address {
	addr := netip.MustParseAddr(a)
	bits := uint8(24)
	if addr.Is6() {
		bits = 64
	}
	return netstate.Address{IfIndex: ifindex, Addr: addr, PrefixLen: bits}
}

func with(s netstate.Snapshot, change func(*netstate.Snapshot)) netstate.Snapshot {
	s.Links = append([]netstate.Link(nil), s.Links...)
	s.Addrs = append([]netstate.Address(nil), s.Addrs...)
	change(&s)
	return s
}

func owned(keys ...string) reconcile.OwnedSet {
	set := reconcile.OwnedSet{}
	for _, k := range keys {
		e := ep(k)
		set[reconcile.KeyOf(e)] = struct{}{}
	}
	return set
}

func u32(v uint32) *uint32 { return &v }

// Step builders for expected plans.

func del(from, reason string, dev ...string) reconcile.Step {
	s := reconcile.Step{Kind: reconcile.Delete, From: ep(from), Reason: reason, Disruptive: true}
	if len(dev) > 0 {
		s.FromDev = dev[0]
	}
	return s
}

func add(to, dev string) reconcile.Step {
	return reconcile.Step{Kind: reconcile.Add, To: ep(to), ToDev: dev}
}

func takeover(from, to, dev string) reconcile.Step {
	f := ep(from)
	return reconcile.Step{Kind: reconcile.Add, From: f, To: ep(to), ToDev: dev, Reason: fmt.Sprintf("takes over implicit endpoint id %d", f.ID)}
}

func replace(from, fromDev, to, toDev, reason string) reconcile.Step {
	return reconcile.Step{Kind: reconcile.Replace, From: ep(from), FromDev: fromDev, To: ep(to), ToDev: toDev, Reason: reason, Disruptive: true}
}

func setFlags(from, to, dev, reason string) reconcile.Step {
	return reconcile.Step{Kind: reconcile.SetFlags, From: ep(from), To: ep(to), FromDev: dev, ToDev: dev, Reason: reason}
}

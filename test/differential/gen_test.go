package differential

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
)

// endpoint is what the generator knows of an endpoint in the reference
// namespace, read from ip's output, so that it can aim at existing ids and
// addresses as often as at missing ones.
type endpoint struct {
	addr netip.Addr
	port int
	id   int
}

// parseEndpoints reads `ip mptcp endpoint show` lines ("ADDR [port P ]id N
// ..."); other lines (the limits) are skipped.
func parseEndpoints(show string) []endpoint {
	var eps []endpoint
	for _, line := range strings.Split(show, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] == "add_addr_accepted" {
			continue
		}
		var e endpoint
		e.addr, _ = netip.ParseAddr(f[0])
		for i := 1; i+1 < len(f); i++ {
			switch f[i] {
			case "port":
				e.port, _ = strconv.Atoi(f[i+1])
			case "id":
				e.id, _ = strconv.Atoi(f[i+1])
			}
		}
		eps = append(eps, e)
	}
	return eps
}

// generator draws random commands, valid and invalid, in iproute2's
// syntax with its abbreviations. The laminar flag is left out: iproute2
// 6.1 cannot add it (TestLaminar covers it). Left out too are commands on
// which mptcpd deliberately differs in success from ip 6.1 (unit-tested in
// internal/ipcmd): `endpoint flush` and `limits show` with arguments, which
// ip ignores and mptcpd refuses; `limits m`, which starts ip's monitor; and
// an IPv4-mapped address that would add a new endpoint, which ip stores as
// IPv6 and mptcpd (through pkg/pm) as IPv4.
type generator struct {
	rng *rand.Rand
	eps []endpoint
}

// Addresses: local ones (eth1, eth2), remote ones (a port needs a local
// address), the legacy IPv4 notation iproute2 accepts (0xa.1.0.2 is
// 10.1.0.2), an IPv4-compatible IPv6 address (printed "::1.2.3.4"), and
// words that are no address at all.
var (
	localAddrs  = []string{"10.1.0.1", "10.1.0.2", "10.2.0.1", "2001:db8:1::1", "2001:db8:2::1"}
	remoteAddrs = []string{"10.9.0.1", "10.9.0.2", "192.0.2.7", "2001:db8:9::1", "::1.2.3.4"}
	oddAddrs    = []string{"10.9", "0xa.1.0.2", "012.2.0.1", "2001:DB8:1::1"}
	badAddrs    = []string{"10.1.0.256", "1.2.3.4.5", "fe80::1%eth1", "bogus"}
)

func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

func pick[T any](g *generator, xs ...T) T { return xs[g.rng.IntN(len(xs))] }

// word abbreviates a keyword to one of the prefixes ip accepts for it
// without ambiguity in its place.
func (g *generator) word(full string, shortest int) string {
	if g.chance(0.6) {
		return full
	}
	return full[:shortest+g.rng.IntN(len(full)-shortest+1)]
}

func (g *generator) next(eps []endpoint) step {
	g.eps = eps
	switch n := g.rng.IntN(100); {
	case n < 30:
		return g.add()
	case n < 33:
		return g.addMappedDuplicate()
	case n < 46:
		return g.del()
	case n < 61:
		return g.change()
	case n < 72:
		return g.show()
	case n < 75:
		return step{args: []string{g.endpointWord(), g.word("flush", 1)}}
	case n < 86:
		return g.limitsSet()
	case n < 91:
		return g.limitsShow()
	default:
		return g.garbage()
	}
}

func (g *generator) endpointWord() string { return g.word("endpoint", 1) }

func (g *generator) existing() (endpoint, bool) {
	if len(g.eps) == 0 {
		return endpoint{}, false
	}
	return pick(g, g.eps...), true
}

func (g *generator) existingID() string {
	if e, ok := g.existing(); ok && g.chance(0.8) {
		return strconv.Itoa(e.id)
	}
	return strconv.Itoa(1 + g.rng.IntN(12))
}

func (g *generator) addr() (word string, stricter string) {
	switch n := g.rng.IntN(100); {
	case n < 55:
		return pick(g, localAddrs...), ""
	case n < 80:
		return pick(g, remoteAddrs...), ""
	case n < 90:
		return pick(g, oddAddrs...), ""
	case n < 97:
		return pick(g, badAddrs...), ""
	}
	// ip sends these with address family 0, which the kernel refuses.
	return pick(g, "any", "default", "all"), "mptcpd refuses a word that names no address"
}

func (g *generator) add() step {
	addr, stricter := g.addr()
	groups := [][]string{}
	if !g.chance(0.03) {
		groups = append(groups, []string{addr})
	}
	switch n := g.rng.IntN(100); {
	case n < 40:
	case n < 55:
		groups = append(groups, []string{g.word("id", 1), g.existingID()})
	case n < 90:
		groups = append(groups, []string{g.word("id", 1), strconv.Itoa(1 + g.rng.IntN(12))})
	default:
		groups = append(groups, []string{g.word("id", 1), pick(g, "0", "255", "256", "0x10", "010", "abc", "-1")})
	}
	switch n := g.rng.IntN(100); {
	case n < 65:
	case n < 95:
		groups = append(groups, []string{g.word("dev", 1), pick(g, "eth1", "eth2")})
	default:
		groups = append(groups, []string{g.word("dev", 1), pick(g, "nosuch", "if99", "if3")})
	}
	if g.chance(0.25) {
		groups = append(groups, []string{g.word("port", 1), pick(g, "5000", "5001", "5555", "0", "99999", "x", "0x1389")})
	}
	for _, f := range []struct {
		word string
		p    float64
	}{
		{"signal", 0.35}, {"subflow", 0.5}, {"backup", 0.2}, {"fullmesh", 0.15},
		{"nobackup", 0.03}, {"nofullmesh", 0.03}, {"implicit", 0.02}, {"bogus", 0.02},
	} {
		if g.chance(f.p) {
			groups = append(groups, []string{f.word})
		}
	}
	g.rng.Shuffle(len(groups), func(i, j int) { groups[i], groups[j] = groups[j], groups[i] })
	args := []string{g.endpointWord(), g.word("add", 1)}
	for _, grp := range groups {
		args = append(args, grp...)
	}
	return step{args: args, stricter: stricter}
}

// addMappedDuplicate adds the IPv4-mapped form of an existing IPv4
// endpoint's address, which the kernel refuses as a duplicate.
func (g *generator) addMappedDuplicate() step {
	for _, e := range g.eps {
		if e.addr.Is4() && e.port == 0 {
			args := []string{g.endpointWord(), g.word("add", 1), "::ffff:" + e.addr.String()}
			if g.chance(0.5) {
				args = append(args, "subflow")
			}
			return step{args: args}
		}
	}
	return g.add()
}

func (g *generator) del() step {
	args := []string{g.endpointWord(), g.word("delete", 1)}
	var stricter string
	id := g.word("id", 1)
	switch n := g.rng.IntN(100); {
	case n < 60:
		args = append(args, id, g.existingID())
	case n < 72:
		args = append(args, id, strconv.Itoa(1+g.rng.IntN(255)))
	case n < 82:
		// Closes initial subflows; deletes nothing.
		var a string
		a, stricter = g.addr()
		args = append(args, id, "0", a)
	case n < 86:
		args = append(args, id, "0")
	case n < 90:
		args = append(args, id, g.existingID(), pick(g, localAddrs...))
	case n < 96:
		args = append(args, id, pick(g, "256", "x", "-1"))
	}
	return step{args: args, stricter: stricter}
}

func (g *generator) change() step {
	args := []string{g.endpointWord(), g.word("change", 1)}
	var stricter string
	switch n := g.rng.IntN(100); {
	case n < 45:
		args = append(args, g.word("id", 1), g.existingID())
	case n < 55:
		args = append(args, g.word("id", 1), strconv.Itoa(1+g.rng.IntN(255)))
	case n < 80:
		e, ok := g.existing()
		if !ok || g.chance(0.2) {
			var a string
			a, stricter = g.addr()
			args = append(args, a)
			break
		}
		args = append(args, e.addr.String())
		if e.port != 0 && g.chance(0.8) {
			args = append(args, g.word("port", 1), strconv.Itoa(e.port))
		}
	case n < 88:
		// The kernel compares an IPv4-mapped address with IPv4 ones.
		if e, ok := g.existing(); ok && e.addr.Is4() {
			args = append(args, "::ffff:"+e.addr.String())
		} else {
			args = append(args, pick(g, localAddrs...))
		}
	case n < 93:
		stricter = "mptcpd wants id or an address to find the endpoint"
	case n < 96:
		args = append(args, g.word("id", 1), "0")
		stricter = "mptcpd wants id or an address to find the endpoint"
	default:
		args = append(args, g.word("id", 1), g.existingID(), g.word("port", 1), "5000")
	}
	for _, f := range []struct {
		word string
		p    float64
	}{{"backup", 0.4}, {"nobackup", 0.2}, {"fullmesh", 0.3}, {"nofullmesh", 0.2}, {"signal", 0.03}} {
		if g.chance(f.p) {
			args = append(args, f.word)
		}
	}
	return step{args: args, stricter: stricter}
}

func (g *generator) show() step {
	var st step
	switch n := g.rng.IntN(100); {
	case n < 15:
		st.global = []string{"-j"}
	case n < 25:
		st.global = []string{"-j", "-p"}
	}
	switch n := g.rng.IntN(100); {
	case n < 15:
		st.args = []string{g.endpointWord()}
	case n < 60:
		st.args = []string{g.endpointWord(), g.word("show", 1)}
	case n < 90:
		st.args = []string{g.endpointWord(), g.word("show", 1), g.word("id", 1), g.existingID()}
	default:
		st.args = []string{g.endpointWord(), g.word("show", 1), g.word("id", 1), "0"}
		st.stricter = "mptcpd refuses id 0, which names no endpoint"
	}
	return st
}

func (g *generator) limitsSet() step {
	// "s" alone means set, which ip tests before show.
	args := []string{g.word("limits", 1), g.word("set", 1)}
	value := func() string {
		if g.chance(0.04) {
			return pick(g, "x", "-1", "0x3")
		}
		return strconv.Itoa(g.rng.IntN(11)) // 9 and 10 are above the kernel's 8
	}
	if g.chance(0.6) {
		args = append(args, g.word("subflows", 1), value())
	}
	if g.chance(0.6) {
		args = append(args, g.word("add_addr_accepted", 1), value())
	}
	if g.chance(0.04) {
		args = append(args, pick(g, "bogus", "subflows"))
	}
	if g.chance(0.5) {
		return step{args: args}
	}
	// Both limits in either order.
	if len(args) == 6 {
		args[2], args[3], args[4], args[5] = args[4], args[5], args[2], args[3]
	}
	return step{args: args}
}

func (g *generator) limitsShow() step {
	switch g.rng.IntN(3) {
	case 0:
		return step{args: []string{g.word("limits", 1)}}
	case 1:
		return step{args: []string{g.word("limits", 1), "show"}}
	}
	return step{args: []string{g.word("limits", 1), g.word("show", 2)}}
}

func (g *generator) garbage() step {
	switch g.rng.IntN(7) {
	case 0:
		return step{args: []string{"bogus"}}
	case 1:
		return step{args: []string{g.endpointWord(), "bogus"}}
	case 2:
		return step{args: []string{g.word("limits", 1), "bogus"}}
	case 3:
		return step{args: []string{g.word("monitor", 1), "now"}}
	case 4:
		return step{args: []string{g.endpointWord(), g.word("add", 1)}}
	case 5:
		return step{args: []string{g.endpointWord(), g.word("change", 1)}, stricter: "mptcpd wants id or an address to find the endpoint"}
	}
	return step{args: []string{g.endpointWord(), g.word("add", 1), pick(g, localAddrs...), g.word("id", 1)}}
}

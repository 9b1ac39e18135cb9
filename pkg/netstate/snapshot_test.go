package netstate

import (
	"cmp"
	"encoding/json"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/pkg/netns"
)

// sysctl sets net.* sysctls inside a test namespace.
func sysctl(t testing.TB, ns string, settings ...string) {
	t.Helper()
	args := append([]string{"-q", "-w"}, settings...)
	if out, err := nstest.Exec(ns, "sysctl", args...); err != nil {
		t.Fatalf("sysctl %v in %s: %v: %s", settings, ns, err, out)
	}
}

func openNS(t testing.TB, name string) netns.NS {
	t.Helper()
	ns, err := netns.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

func dial(t testing.TB, ns netns.NS) *Conn {
	t.Helper()
	c, err := Dial(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func snapshot(t testing.TB, c *Conn) Snapshot {
	t.Helper()
	s, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ipSnapshot is what `ip -j addr show` says about the namespace, in this
// package's terms: the reference Snapshot is compared against.
func ipSnapshot(t *testing.T, ns string) Snapshot {
	t.Helper()
	var links []struct {
		IfIndex  int32    `json:"ifindex"`
		IfName   string   `json:"ifname"`
		Flags    []string `json:"flags"`
		AddrInfo []struct {
			Local      string `json:"local"`
			PrefixLen  uint8  `json:"prefixlen"`
			Scope      string `json:"scope"`
			Tentative  bool   `json:"tentative"`
			DADFailed  bool   `json:"dadfailed"`
			Temporary  bool   `json:"temporary"`
			Deprecated bool   `json:"deprecated"`
			Optimistic bool   `json:"optimistic"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal([]byte(nstest.IP(t, "-n", ns, "-j", "addr", "show")), &links); err != nil {
		t.Fatal(err)
	}
	scopes := map[string]uint8{"global": 0, "site": 200, "link": 253, "host": 254}
	var s Snapshot
	for _, l := range links {
		s.Links = append(s.Links, Link{
			Index:    l.IfIndex,
			Name:     l.IfName,
			AdminUp:  slices.Contains(l.Flags, "UP"),
			LowerUp:  slices.Contains(l.Flags, "LOWER_UP"),
			Loopback: slices.Contains(l.Flags, "LOOPBACK"),
		})
		for _, a := range l.AddrInfo {
			scope, ok := scopes[a.Scope]
			if !ok {
				n, err := strconv.ParseUint(a.Scope, 10, 8)
				if err != nil {
					t.Fatalf("ip printed scope %q", a.Scope)
				}
				scope = uint8(n)
			}
			s.Addrs = append(s.Addrs, Address{
				IfIndex:    l.IfIndex,
				Addr:       netip.MustParseAddr(a.Local),
				PrefixLen:  a.PrefixLen,
				Scope:      scope,
				Tentative:  a.Tentative,
				DADFailed:  a.DADFailed,
				Temporary:  a.Temporary,
				Deprecated: a.Deprecated,
				Optimistic: a.Optimistic,
			})
		}
	}
	return sorted(s)
}

func sorted(s Snapshot) Snapshot {
	s.Links = slices.Clone(s.Links)
	s.Addrs = slices.Clone(s.Addrs)
	slices.SortFunc(s.Links, func(a, b Link) int { return cmp.Compare(a.Index, b.Index) })
	slices.SortFunc(s.Addrs, func(a, b Address) int {
		return cmp.Or(cmp.Compare(a.IfIndex, b.IfIndex), a.Addr.Compare(b.Addr))
	})
	return s
}

// buildStates makes a namespace whose addresses are in every state the
// package reports, none of them changing on its own:
//
//	a0-a1  veth, both up, no DAD: IPv4 primary and secondary, a deprecated
//	       IPv6 address, a temporary (privacy) address made by the kernel
//	       for a mngtmpaddr prefix
//	b0-b1  veth, b0 up and b1 down (so b0 has no carrier and DAD cannot
//	       run): a tentative and an optimistic IPv6 address, and an IPv4
//	       point-to-point address
func buildStates(t *testing.T) string {
	t.Helper()
	ns := nstest.NewNS(t)
	// No DAD unless asked for, so that no address changes state while
	// the test compares two readings.
	sysctl(t, ns, "net.ipv6.conf.default.accept_dad=0")
	nstest.IP(t, "-n", ns, "link", "add", "a0", "type", "veth", "peer", "name", "a1")
	nstest.IP(t, "-n", ns, "link", "add", "b0", "type", "veth", "peer", "name", "b1")
	sysctl(t, ns, "net.ipv6.conf.a0.use_tempaddr=2",
		"net.ipv6.conf.b0.accept_dad=1", "net.ipv6.conf.b0.optimistic_dad=1",
		// Once b1 comes up, DAD on b0 starts at once and takes 50ms.
		"net.ipv6.conf.b0.router_solicitation_delay=0", "net.ipv6.neigh.b0.retrans_time_ms=50")
	for _, args := range [][]string{
		{"link", "set", "a0", "up"},
		{"link", "set", "a1", "up"},
		{"link", "set", "b0", "up"},
		{"addr", "add", "192.0.2.1/24", "dev", "a0"},
		{"addr", "add", "192.0.2.2/24", "dev", "a0"},
		{"addr", "add", "2001:db8:1::1/64", "dev", "a0", "mngtmpaddr"},
		{"addr", "add", "2001:db8:2::1/64", "dev", "a0", "preferred_lft", "0"},
		{"addr", "add", "2001:db8:3::1/64", "dev", "b0"},
		{"addr", "add", "2001:db8:3::2/64", "dev", "b0", "optimistic"},
		{"addr", "add", "10.1.1.1", "peer", "10.1.1.2/32", "dev", "b0"},
	} {
		nstest.IP(t, append([]string{"-n", ns}, args...)...)
	}
	return ns
}

func TestSnapshotMatchesIP(t *testing.T) {
	ns := buildStates(t)
	got := snapshot(t, dial(t, openNS(t, ns)))
	want := ipSnapshot(t, ns)
	if diff := gocmp.Diff(want, sorted(got), equateIP()); diff != "" {
		t.Errorf("Snapshot differs from ip -j addr show (-want +got):\n%s", diff)
	}
	if !slices.IsSortedFunc(got.Links, func(a, b Link) int { return cmp.Compare(a.Index, b.Index) }) {
		t.Errorf("links not sorted by index: %+v", got.Links)
	}
}

func TestSnapshotStates(t *testing.T) {
	ns := buildStates(t)
	s := snapshot(t, dial(t, openNS(t, ns)))

	linkTests := []struct {
		name string
		want Link // Index is filled in from the snapshot
	}{
		{name: "lo", want: Link{Name: "lo", AdminUp: true, LowerUp: true, Loopback: true}},
		{name: "a0", want: Link{Name: "a0", AdminUp: true, LowerUp: true}},
		{name: "b0", want: Link{Name: "b0", AdminUp: true}}, // up, but its peer is down: no carrier
		{name: "b1", want: Link{Name: "b1"}},                // down
	}
	for _, tt := range linkTests {
		got, ok := s.LinkByName(tt.name)
		if !ok {
			t.Errorf("link %s missing from %+v", tt.name, s.Links)
			continue
		}
		tt.want.Index = got.Index
		if diff := gocmp.Diff(tt.want, got); diff != "" {
			t.Errorf("link %s (-want +got):\n%s", tt.name, diff)
		}
	}

	a0, _ := s.LinkByName("a0")
	b0, _ := s.LinkByName("b0")
	lo, _ := s.LinkByName("lo")
	addrTests := []struct {
		addr string
		want Address
	}{
		{"127.0.0.1", Address{IfIndex: lo.Index, PrefixLen: 8, Scope: 254}},
		{"::1", Address{IfIndex: lo.Index, PrefixLen: 128, Scope: 254}},
		{"192.0.2.1", Address{IfIndex: a0.Index, PrefixLen: 24}},
		{"192.0.2.2", Address{IfIndex: a0.Index, PrefixLen: 24}}, // secondary, not temporary
		{"2001:db8:1::1", Address{IfIndex: a0.Index, PrefixLen: 64}},
		{"2001:db8:2::1", Address{IfIndex: a0.Index, PrefixLen: 64, Deprecated: true}},
		{"2001:db8:3::1", Address{IfIndex: b0.Index, PrefixLen: 64, Tentative: true}},
		{"2001:db8:3::2", Address{IfIndex: b0.Index, PrefixLen: 64, Tentative: true, Optimistic: true}},
		{"10.1.1.1", Address{IfIndex: b0.Index, PrefixLen: 32}}, // the local end of a peer address
	}
	for _, tt := range addrTests {
		tt.want.Addr = netip.MustParseAddr(tt.addr)
		if diff := gocmp.Diff([]Address{tt.want}, s.FindAddr(tt.want.Addr), equateIP()); diff != "" {
			t.Errorf("address %s (-want +got):\n%s", tt.addr, diff)
		}
	}
	if got := s.FindAddr(netip.MustParseAddr("10.1.1.2")); len(got) != 0 {
		t.Errorf("the peer of a point-to-point address is listed as local: %+v", got)
	}

	// The kernel made one privacy address in 2001:db8:1::/64.
	prefix := netip.MustParsePrefix("2001:db8:1::/64")
	var temporary []Address
	for _, a := range s.AddrsOf(a0.Index) {
		if a.Temporary {
			temporary = append(temporary, a)
		}
	}
	if len(temporary) != 1 || !prefix.Contains(temporary[0].Addr) || temporary[0].Addr == prefix.Addr().Next() {
		t.Errorf("temporary addresses on a0 = %+v, want one new address in %s", temporary, prefix)
	}
}

// TestDADCompletes follows an IPv6 address from tentative to usable, in a
// snapshot and as an event.
func TestDADCompletes(t *testing.T) {
	ns := buildStates(t)
	h := openNS(t, ns)
	c := dial(t, h)
	w := startWatch(t, h)
	addr := netip.MustParseAddr("2001:db8:3::1")

	s := snapshot(t, c)
	if got := s.FindAddr(addr); len(got) != 1 || !got[0].Tentative {
		t.Fatalf("before carrier: %s = %+v, want one tentative address", addr, got)
	}

	nstest.IP(t, "-n", ns, "link", "set", "b1", "up")

	expectEvent(t, w, "b0 gets carrier", func(e Event) bool {
		return e.Kind == LinkChanged && e.Link.Name == "b0" && e.Link.LowerUp
	})
	expectEvent(t, w, addr.String()+" leaves tentative", func(e Event) bool {
		return e.Kind == AddrChanged && !e.Deleted && e.Addr.Addr == addr && !e.Addr.Tentative
	})

	s = snapshot(t, c)
	b0, _ := s.LinkByName("b0")
	if !b0.LowerUp {
		t.Errorf("b0 = %+v after its peer came up, want LowerUp", b0)
	}
	if got := s.FindAddr(addr); len(got) != 1 || got[0].Tentative || got[0].DADFailed {
		t.Errorf("after DAD: %s = %+v, want one address neither tentative nor failed", addr, got)
	}
}

// TestDADFailed puts the same IPv6 address on both ends of a veth: the end
// that runs DAD second finds the other and marks its copy failed.
func TestDADFailed(t *testing.T) {
	owner, dup := nstest.NewNS(t), nstest.NewNS(t)
	nstest.IP(t, "-n", owner, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", dup)
	sysctl(t, dup, "net.ipv6.conf.v1.accept_dad=1", "net.ipv6.conf.v1.router_solicitation_delay=0", "net.ipv6.neigh.v1.retrans_time_ms=100")
	nstest.IP(t, "-n", owner, "link", "set", "v0", "up")
	nstest.IP(t, "-n", dup, "link", "set", "v1", "up")
	nstest.IP(t, "-n", owner, "addr", "add", "2001:db8::5/64", "dev", "v0", "nodad")
	nstest.IP(t, "-n", dup, "addr", "add", "2001:db8::5/64", "dev", "v1")

	c := dial(t, openNS(t, dup))
	addr := netip.MustParseAddr("2001:db8::5")
	var got []Address
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got = snapshot(t, c).FindAddr(addr)
		if len(got) == 1 && got[0].DADFailed {
			return
		}
	}
	t.Errorf("%s on the duplicate = %+v, want DADFailed", addr, got)
}

func BenchmarkSnapshot(b *testing.B) {
	ns := nstest.NewNS(b)
	for i := range 4 {
		a, p := "a"+strconv.Itoa(i), "p"+strconv.Itoa(i)
		nstest.IP(b, "-n", ns, "link", "add", a, "type", "veth", "peer", "name", p)
		nstest.IP(b, "-n", ns, "link", "set", a, "up")
		nstest.IP(b, "-n", ns, "addr", "add", "192.0.2."+strconv.Itoa(i+1)+"/24", "dev", a)
		nstest.IP(b, "-n", ns, "addr", "add", "2001:db8::"+strconv.Itoa(i+1)+"/64", "dev", a, "nodad")
	}
	c := dial(b, openNS(b, ns))
	for b.Loop() {
		if _, err := c.Snapshot(); err != nil {
			b.Fatal(err)
		}
	}
}

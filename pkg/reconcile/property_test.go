package reconcile_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/pkg/config"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/netstate"
	"github.com/mptcpd/mptcpd/pkg/reconcile"
	"github.com/mptcpd/mptcpd/pkg/reconcile/fakekernel"
)

// chooser is where a scenario's random choices come from: math/rand for
// the property test, the fuzzer's bytes for FuzzPlan.
type chooser interface {
	// intn returns a number in [0, n).
	intn(n int) int
}

type randChooser struct{ r *rand.Rand }

func (c randChooser) intn(n int) int { return c.r.IntN(n) }

// byteChooser takes one byte per choice; once the bytes run out every
// choice is 0.
type byteChooser struct{ b []byte }

func (c *byteChooser) intn(n int) int {
	if n <= 1 || len(c.b) == 0 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	return v % n
}

func oneIn(c chooser, n int) bool { return c.intn(n) == 0 }

var (
	scenarioAddrs = []string{
		"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6",
		"198.51.100.1", "198.51.100.2", "203.0.113.9", "169.254.7.7",
		"2001:db8::1", "2001:db8::2", "2001:db8::3", "fe80::7", "fd00::7",
	}
	scenarioDevs    = []string{"eth0", "eth1", "wlan0", "lo", "eth9"}
	scenarioSysctls = []string{"enabled", "add_addr_timeout", "path_manager", "checksum_enabled"}
)

// scenario is one desired/observed pair.
type scenario struct {
	cfg     *config.Config
	net     netstate.Snapshot
	owned   reconcile.OwnedSet
	kernel  *fakekernel.Kernel
	sysctls []string
}

func (sc scenario) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config: manage=%v ownership=%s limits=%s\n", sc.cfg.ManageEndpoints, sc.cfg.Ownership, limitsText(sc.cfg.Limits))
	for i, e := range sc.cfg.Endpoints {
		if e.IsInterface() {
			fmt.Fprintf(&b, "  %d: interface %s family %s ll=%v ula=%v tmp=%v port %d flags [%s]\n", i+1, e.Interface, e.Family, e.IncludeLinkLocal, e.IncludeULA, e.IncludeTemporary, e.Port, e.Flags)
		} else {
			fmt.Fprintf(&b, "  %d: %s id %d port %d dev %q flags [%s]\n", i+1, e.Address, e.ID, e.Port, e.Dev, e.Flags)
		}
	}
	for _, l := range sc.net.Links {
		fmt.Fprintf(&b, "link %d %s up=%v carrier=%v\n", l.Index, l.Name, l.AdminUp, l.LowerUp)
	}
	for _, a := range sc.net.Addrs {
		fmt.Fprintf(&b, "addr %s on %d tentative=%v dadfailed=%v temporary=%v\n", a.Addr, a.IfIndex, a.Tentative, a.DADFailed, a.Temporary)
	}
	eps, _ := sc.kernel.Endpoints()
	for _, e := range eps {
		fmt.Fprintf(&b, "kernel: %s owned=%v\n", e, sc.owned.Has(reconcile.KeyOf(e)))
	}
	return b.String()
}

func limitsText(u *mptcp.LimitsUpdate) string {
	if u == nil {
		return "unmanaged"
	}
	s := func(p *uint32) string {
		if p == nil {
			return "-"
		}
		return strconv.Itoa(int(*p))
	}
	return "subflows " + s(u.Subflows) + " add_addr_accepted " + s(u.AddAddrAccepted)
}

func randomFlags(c chooser) mptcp.Flags {
	f := mptcp.Flags(c.intn(64)) &^ mptcp.FlagImplicit
	if f&mptcp.FlagSignal != 0 {
		f &^= mptcp.FlagFullmesh
	}
	return f
}

func randomPort(c chooser, f mptcp.Flags) uint16 {
	if f&(mptcp.FlagSignal|mptcp.FlagSubflow) == mptcp.FlagSignal && oneIn(c, 3) {
		return uint16(5000 + c.intn(3))
	}
	return 0
}

func genScenario(c chooser) scenario {
	sc := genDesired(c)
	// The kernel's state: what a history of adds, deletes and connections
	// (implicit endpoints) left behind. Failed requests are part of it.
	k := fakekernel.New()
	for _, op := range genHistory(c, sc.cfg, sc.net) {
		op.apply(k)
	}
	sc.kernel = k
	eps, _ := k.Endpoints()
	sc.owned = genOwned(c, eps)
	return sc
}

// genDesired makes the host and the file of a scenario.
func genDesired(c chooser) scenario {
	sc := scenario{net: netstate.Snapshot{Links: []netstate.Link{
		{Index: 1, Name: "lo", AdminUp: true, LowerUp: true, Loopback: true},
		{Index: 2, Name: "eth0", AdminUp: !oneIn(c, 6), LowerUp: !oneIn(c, 6)},
		{Index: 3, Name: "eth1", AdminUp: !oneIn(c, 6), LowerUp: !oneIn(c, 6)},
		{Index: 4, Name: "wlan0", AdminUp: !oneIn(c, 6), LowerUp: !oneIn(c, 6)},
	}}}
	for _, s := range scenarioAddrs {
		a := netip.MustParseAddr(s)
		for range 1 + c.intn(2) {
			if oneIn(c, 4) {
				continue
			}
			x := netstate.Address{IfIndex: int32(2 + c.intn(3)), Addr: a, Tentative: oneIn(c, 8), Deprecated: oneIn(c, 5)}
			if a.IsLinkLocalUnicast() {
				x.Scope = 253
			}
			if a.Is6() {
				x.Temporary = oneIn(c, 6)
				if oneIn(c, 10) {
					x.Tentative, x.DADFailed = true, true
				}
			}
			sc.net.Addrs = append(sc.net.Addrs, x)
		}
	}

	cfg := &config.Config{ManageEndpoints: !oneIn(c, 10), Ownership: config.Exclusive}
	if oneIn(c, 3) {
		cfg.Ownership = config.Shared
	}
	usedAddrs, usedIDs := map[string]bool{}, map[uint8]bool{}
	fixedCount := 0
	for range c.intn(10) {
		flags := randomFlags(c)
		if oneIn(c, 3) {
			e := config.Entry{Interface: scenarioDevs[c.intn(len(scenarioDevs))], Flags: flags, Port: randomPort(c, flags),
				Family:           []config.Family{config.FamilyAny, config.FamilyIPv4, config.FamilyIPv6}[c.intn(3)],
				IncludeLinkLocal: oneIn(c, 3), IncludeULA: oneIn(c, 3), IncludeTemporary: oneIn(c, 3)}
			cfg.Endpoints = append(cfg.Endpoints, e)
			continue
		}
		addr := scenarioAddrs[c.intn(len(scenarioAddrs))]
		if usedAddrs[addr] || fixedCount == mptcp.MaxEndpoints {
			continue // the loader refuses duplicate addresses and more than 8 fixed entries
		}
		usedAddrs[addr] = true
		fixedCount++
		e := config.Entry{Address: netip.MustParseAddr(addr), Flags: flags, Port: randomPort(c, flags)}
		if oneIn(c, 2) {
			e.Dev = scenarioDevs[c.intn(len(scenarioDevs))]
		}
		if oneIn(c, 2) {
			if id := uint8(1 + c.intn(10)); !usedIDs[id] {
				usedIDs[id] = true
				e.ID = id
			}
		}
		cfg.Endpoints = append(cfg.Endpoints, e)
	}
	if oneIn(c, 2) {
		cfg.Limits = &mptcp.LimitsUpdate{}
		if oneIn(c, 2) {
			cfg.Limits.Subflows = u32(uint32(c.intn(9)))
		}
		if oneIn(c, 2) {
			cfg.Limits.AddAddrAccepted = u32(uint32(c.intn(9)))
		}
	}
	for _, n := range scenarioSysctls {
		if oneIn(c, 3) {
			cfg.Sysctls = append(cfg.Sysctls, config.Sysctl{Name: n, Value: strconv.Itoa(c.intn(2))})
			sc.sysctls = append(sc.sysctls, n)
		}
	}
	sc.cfg = cfg
	return sc
}

// genOwned picks the endpoints mptcpd is to have made, and one it made
// that is gone from the kernel.
func genOwned(c chooser, eps []mptcp.Endpoint) reconcile.OwnedSet {
	owned := reconcile.OwnedSet{}
	for _, e := range eps {
		if oneIn(c, 2) {
			owned[reconcile.KeyOf(e)] = struct{}{}
		}
	}
	if oneIn(c, 4) {
		owned[reconcile.KeyOf(mptcp.Endpoint{Addr: netip.MustParseAddr("198.51.100.2")})] = struct{}{}
	}
	return owned
}

// historyKernel is what a kernel history is made with: the real client
// and the fake both have it.
type historyKernel interface {
	AddEndpoint(mptcp.Endpoint) (mptcp.Endpoint, error)
	DeleteEndpoint(uint8) error
	SetLimits(mptcp.LimitsUpdate) error
}

// kernelOp is one step of a kernel's history.
type kernelOp struct {
	add      *mptcp.Endpoint
	del      uint8
	limits   *mptcp.LimitsUpdate
	implicit netip.Addr // a connection made the kernel create one (fake only)
	sysctl   [2]string  // name, value (fake only)
}

func (op kernelOp) String() string {
	switch {
	case op.add != nil:
		return "add " + op.add.String()
	case op.del != 0:
		return fmt.Sprintf("delete id %d", op.del)
	case op.limits != nil:
		return "set limits " + limitsText(op.limits)
	case op.implicit.IsValid():
		return "implicit " + op.implicit.String()
	}
	return "sysctl " + op.sysctl[0] + "=" + op.sysctl[1]
}

// fakeOnly reports whether the op needs the fake (the real kernel makes
// implicit endpoints only for live connections).
func (op kernelOp) fakeOnly() bool { return op.implicit.IsValid() || op.sysctl[0] != "" }

func (op kernelOp) apply(k historyKernel) error {
	switch {
	case op.add != nil:
		_, err := k.AddEndpoint(*op.add)
		return err
	case op.del != 0:
		return k.DeleteEndpoint(op.del)
	case op.limits != nil:
		return k.SetLimits(*op.limits)
	case op.implicit.IsValid():
		_, err := k.(*fakekernel.Kernel).InjectImplicit(op.implicit)
		return err
	}
	return k.(*fakekernel.Kernel).WriteSysctl(op.sysctl[0], op.sysctl[1])
}

// genHistory makes a random history of requests, many of them close to what
// the file asks for.
func genHistory(c chooser, cfg *config.Config, net netstate.Snapshot) []kernelOp {
	randAddr := func() netip.Addr { return netip.MustParseAddr(scenarioAddrs[c.intn(len(scenarioAddrs))]) }
	var ops []kernelOp
	for range c.intn(20) {
		switch c.intn(7) {
		case 0, 1, 2: // something close to an entry of the file
			if len(cfg.Endpoints) == 0 {
				continue
			}
			e := cfg.Endpoints[c.intn(len(cfg.Endpoints))]
			ep := mptcp.Endpoint{Addr: e.Address, ID: e.ID, Port: e.Port, Flags: e.Flags}
			dev := e.Dev
			if e.IsInterface() {
				dev = e.Interface
				ep.Addr = randAddr()
				if l, ok := net.LinkByName(dev); ok {
					if addrs := net.AddrsOf(l.Index); len(addrs) > 0 {
						ep.Addr = addrs[c.intn(len(addrs))].Addr
					}
				}
			}
			if l, ok := net.LinkByName(dev); ok {
				ep.IfIndex = l.Index
			}
			switch c.intn(4) {
			case 0:
				ep.Flags ^= mptcp.Flags(1 << c.intn(6))
				ep.Flags &^= mptcp.FlagImplicit
			case 1:
				ep.Flags ^= mptcp.FlagBackup << c.intn(2)
			case 2:
				ep.IfIndex = int32(c.intn(5))
			}
			if oneIn(c, 4) {
				ep.ID = uint8(c.intn(12))
			}
			ops = append(ops, kernelOp{add: &ep})
		case 3:
			f := randomFlags(c)
			ops = append(ops, kernelOp{add: &mptcp.Endpoint{Addr: randAddr(), ID: uint8(c.intn(12)), Flags: f, Port: randomPort(c, f), IfIndex: int32(c.intn(5))}})
		case 4:
			ops = append(ops, kernelOp{implicit: randAddr()})
		case 5:
			ops = append(ops, kernelOp{del: uint8(1 + c.intn(12))})
		case 6:
			ops = append(ops, kernelOp{limits: &mptcp.LimitsUpdate{Subflows: u32(uint32(c.intn(9)))}})
			ops = append(ops, kernelOp{sysctl: [2]string{scenarioSysctls[c.intn(len(scenarioSysctls))], strconv.Itoa(c.intn(2))}})
		}
	}
	if oneIn(c, 3) {
		// A busy host: connections filled the table with implicit
		// endpoints.
		for range 8 {
			ops = append(ops, kernelOp{implicit: randAddr()})
		}
	}
	return ops
}

// oracleWant is an endpoint the file wants that is usable, as a plain
// reading of the rules finds it.
type oracleWant struct {
	entry int
	ep    mptcp.Endpoint
}

// oracle restates the usability rules in the simplest terms, independently
// of the planner.
func oracle(cfg *config.Config, net netstate.Snapshot) (usable []oracleWant, unusable map[netip.Addr]bool) {
	unusable = map[netip.Addr]bool{}
	claimed := map[netip.Addr]int{}
	okAddr := func(a netstate.Address) bool {
		l, found := net.LinkByIndex(a.IfIndex)
		return found && l.Usable() && !a.Tentative && !a.DADFailed
	}
	for i, e := range cfg.Endpoints {
		if !e.IsInterface() {
			if _, taken := claimed[e.Address]; taken {
				continue
			}
			claimed[e.Address] = i
			want := mptcp.Endpoint{Addr: e.Address, ID: e.ID, Port: e.Port, Flags: e.Flags}
			ok := false
			for _, a := range net.Addrs {
				if a.Addr != e.Address || !okAddr(a) {
					continue
				}
				if e.Dev == "" {
					ok = true
				} else if l, _ := net.LinkByIndex(a.IfIndex); l.Name == e.Dev {
					ok, want.IfIndex = true, l.Index
				}
			}
			if ok && !(e.Port != 0 && e.Address.Is6() && e.Address.IsLinkLocalUnicast()) {
				usable = append(usable, oracleWant{i, want})
			} else {
				unusable[e.Address] = true
			}
			continue
		}
		l, found := net.LinkByName(e.Interface)
		if !found {
			continue
		}
		// An address may be listed twice on a link (IPv4, two prefix
		// lengths): usable if any listing is.
		ok := map[netip.Addr]bool{}
		for _, a := range net.AddrsOf(l.Index) {
			x := a.Addr
			switch {
			case e.Family == config.FamilyIPv4 && !x.Is4(), e.Family == config.FamilyIPv6 && !x.Is6():
			case x.IsLoopback(), x.IsLinkLocalUnicast() && !e.IncludeLinkLocal:
			case x.Is6() && netip.MustParsePrefix("fc00::/7").Contains(x) && !e.IncludeULA:
			case a.Temporary && !e.IncludeTemporary:
			default:
				ok[x] = ok[x] || okAddr(a)
			}
		}
		addrs := slices.SortedFunc(maps.Keys(ok), netip.Addr.Compare)
		for _, a := range addrs {
			if _, taken := claimed[a]; taken {
				continue
			}
			claimed[a] = i
			if ok[a] && !(e.Port != 0 && a.Is6() && a.IsLinkLocalUnicast()) {
				usable = append(usable, oracleWant{i, mptcp.Endpoint{Addr: a, Port: e.Port, Flags: e.Flags, IfIndex: l.Index}})
			} else {
				unusable[a] = true
			}
		}
	}
	return usable, unusable
}

// sameAsWanted reports whether have is what want describes (want.ID 0
// takes any id).
func sameAsWanted(have, want mptcp.Endpoint) bool {
	return (want.ID == 0 || want.ID == have.ID) && have.Addr == want.Addr && have.Port == want.Port &&
		have.IfIndex == want.IfIndex && have.Flags == want.Flags
}

// checkScenario plans, applies the plan to a copy of the fake kernel, and
// checks the properties every plan must have.
func checkScenario(t *testing.T, sc scenario) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\n\nscenario:\n%s", append(args, sc)...)
	}
	k := sc.kernel.Clone()
	before, _ := k.Endpoints()
	limits, _ := k.Limits()
	d := reconcile.Desired{Config: sc.cfg, Net: sc.net, Owned: sc.owned}
	o := reconcile.Observed{Endpoints: before, Limits: limits, Sysctls: k.Sysctls(sc.sysctls...)}
	p := reconcile.NewPlan(d, o)
	if again := reconcile.NewPlan(d, o); !cmp.Equal(p, again, cmpAddr) {
		fail("two plans from the same inputs differ:\n%s", cmp.Diff(p, again, cmpAddr))
	}

	res, err := reconcile.Apply(k, p)
	if err != nil {
		fail("Apply: %v\nplan:\n%s", err, p)
	}
	after, _ := k.Endpoints()
	if len(after) != p.EndpointsAfter {
		fail("plan says %d endpoints after, the kernel has %d\nplan:\n%s", p.EndpointsAfter, len(after), p)
	}
	owned := sc.owned.Record(res)
	limits, _ = k.Limits()
	d2 := reconcile.Desired{Config: sc.cfg, Net: sc.net, Owned: owned}
	p2 := reconcile.NewPlan(d2, reconcile.Observed{Endpoints: after, Limits: limits, Sysctls: k.Sysctls(sc.sysctls...)})
	if !p2.Empty() {
		fail("planning again is not empty:\n%s\nfirst plan:\n%s", p2, p)
	}
	if diff := cmp.Diff(p.Withheld, p2.Withheld, cmpAddr); diff != "" {
		fail("the withheld endpoints changed after applying (-first +second):\n%s", diff)
	}

	if !sc.cfg.ManageEndpoints {
		for _, s := range p.Steps {
			if s.Kind != reconcile.SetLimits && s.Kind != reconcile.SetSysctl {
				fail("endpoints are not managed, yet: %s", s)
			}
		}
		return
	}

	shared := sc.cfg.Ownership == config.Shared
	mine := func(e mptcp.Endpoint) bool { return !shared || owned.Has(reconcile.KeyOf(e)) }
	usable, unusable := oracle(sc.cfg, sc.net)
	withheld := func(w oracleWant) (reconcile.Withheld, bool) {
		for _, h := range p.Withheld {
			if h.Entry == w.entry && h.Address == w.ep.Addr {
				return h, true
			}
		}
		return reconcile.Withheld{}, false
	}

	// The desired usable state is reached: every usable wanted endpoint
	// is installed, or withheld for a reason other than usability.
	for _, w := range usable {
		if h, ok := withheld(w); ok {
			switch h.Reason {
			case reconcile.ReasonNoSlot, reconcile.ReasonForeign:
			default:
				fail("usable %s withheld: %s", w.ep, h)
			}
			continue
		}
		if !slices.ContainsFunc(after, func(e mptcp.Endpoint) bool { return sameAsWanted(e, w.ep) }) {
			fail("usable %s (entry %d) is not installed\nplan:\n%s", w.ep, w.entry+1, p)
		}
	}
	// Nothing of mptcpd's is installed that the file does not want usable.
	for _, e := range after {
		if e.Flags&mptcp.FlagImplicit != 0 || !mine(e) {
			continue
		}
		if unusable[e.Addr] {
			fail("%s is installed, but unusable", e)
		}
		if !slices.ContainsFunc(usable, func(w oracleWant) bool { return sameAsWanted(e, w.ep) }) {
			fail("%s is installed, but the file does not want it\nplan:\n%s", e, p)
		}
	}

	// idWanted: another step adds an endpoint with from's id.
	idWanted := func(from mptcp.Endpoint) bool {
		return slices.ContainsFunc(p.Steps, func(s reconcile.Step) bool {
			return (s.Kind == reconcile.Add || s.Kind == reconcile.Replace) && s.To.ID == from.ID && s.From != from
		})
	}
	takeovers := slices.ContainsFunc(p.Steps, reconcile.Step.TakesOver)
	for _, s := range p.Steps {
		switch s.Kind {
		case reconcile.Delete:
			// No delete where set-flags suffices: nothing comes back at
			// the deleted key.
			if slices.ContainsFunc(after, func(e mptcp.Endpoint) bool { return reconcile.KeyOf(e) == reconcile.KeyOf(s.From) }) {
				fail("%s deletes an endpoint whose address and port are installed afterwards", s)
			}
			// Implicit endpoints stay unless a slot or their id is needed.
			if s.From.Flags&mptcp.FlagImplicit != 0 && len(after) < mptcp.MaxEndpoints && !idWanted(s.From) && !takeovers {
				fail("%s deletes an implicit endpoint that could stay\nplan:\n%s", s, p)
			}
		case reconcile.Replace:
			const fixedFlags = mptcp.FlagSignal | mptcp.FlagSubflow | mptcp.FlagLaminar | mptcp.FlagImplicit
			forced := s.From.Port != s.To.Port || s.From.IfIndex != s.To.IfIndex || (s.From.Flags^s.To.Flags)&fixedFlags != 0 ||
				(s.To.ID != 0 && s.To.ID != s.From.ID) || idWanted(s.From)
			if !forced {
				fail("%s replaces where set-flags would do", s)
			}
		}
		if s.Kind == reconcile.Add || s.Kind == reconcile.SetLimits || s.Kind == reconcile.SetSysctl {
			continue
		}
		// No step touches an endpoint that is already right, unless its
		// id is needed elsewhere.
		for _, w := range usable {
			if _, held := withheld(w); !held && sameAsWanted(s.From, w.ep) && !idWanted(s.From) {
				fail("%s touches %s, which is already right", s, s.From)
			}
		}
		// Shared: foreign endpoints are never touched.
		if shared && !sc.owned.Has(reconcile.KeyOf(s.From)) {
			fail("%s touches an endpoint mptcpd did not create", s)
		}
	}
	if shared {
		for _, e := range before {
			if sc.owned.Has(reconcile.KeyOf(e)) {
				continue
			}
			kept := slices.ContainsFunc(after, func(a mptcp.Endpoint) bool {
				return a == e || (e.Flags&mptcp.FlagImplicit != 0 && reconcile.KeyOf(a) == reconcile.KeyOf(e) && a.ID == e.ID)
			})
			if !kept {
				fail("foreign endpoint %s is gone\nplan:\n%s", e, p)
			}
		}
	}
}

// TestPlanProperties checks random desired/observed pairs. Set
// MPTCPD_PLAN_SEED to replay one seed.
func TestPlanProperties(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rounds := 3000
	if s := os.Getenv("MPTCPD_PLAN_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MPTCPD_PLAN_SEED: %v", err)
		}
		seed, rounds = v, 1
	}
	if testing.Short() {
		rounds = 300
	}
	t.Logf("first seed %d (replay one with MPTCPD_PLAN_SEED)", seed)
	for i := range rounds {
		s := seed + uint64(i)
		t.Run("", func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("seed %d: replay with MPTCPD_PLAN_SEED=%d", s, s)
				}
			}()
			checkScenario(t, genScenario(randChooser{rand.New(rand.NewPCG(s, s))}))
		})
		if t.Failed() {
			return
		}
	}
}

func FuzzPlan(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"))
	f.Add([]byte("mptcpd reconcile plan fuzz seed with a long tail of choices 0123456789"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScenario(t, genScenario(&byteChooser{b: data}))
	})
}

// BenchmarkPlan plans for a file of 8 endpoints, with the kernel in sync
// and with every kind of difference.
func BenchmarkPlan(b *testing.B) {
	cfg := exclusive(
		fixed("192.0.2.1 id 1 subflow dev eth0"), fixed("192.0.2.2 id 2 subflow backup dev eth0"),
		fixed("198.51.100.1 signal"), iface("eth1", mptcp.FlagSubflow|mptcp.FlagFullmesh),
		fixed("192.0.2.5 port 5000 signal"), fixed("192.0.2.6 subflow"), fixed("192.0.2.7 subflow laminar"),
		fixed("192.0.2.3 signal subflow"),
	)
	cfg.Limits = &mptcp.LimitsUpdate{Subflows: u32(8), AddAddrAccepted: u32(8)}
	cfg.Sysctls = []config.Sysctl{{Name: "enabled", Value: "1"}}
	d := reconcile.Desired{Config: cfg, Net: host()}
	cases := []struct {
		name     string
		observed []mptcp.Endpoint
		steps    int
	}{
		{"in sync", eps("192.0.2.1 id 1 subflow ifindex 2", "192.0.2.2 id 2 subflow backup ifindex 2", "198.51.100.1 id 3 signal",
			"2001:db8::1 id 5 subflow fullmesh ifindex 3",
			"192.0.2.5 port 5000 id 6 signal", "192.0.2.6 id 7 subflow", "192.0.2.7 id 8 subflow laminar", "192.0.2.3 id 4 signal subflow"), 0},
		{"all different", eps("192.0.2.1 id 9 subflow", "192.0.2.2 id 2 subflow ifindex 2", "198.51.100.1 id 3 subflow",
			"203.0.113.1 id 4 implicit", "203.0.113.2 id 1 subflow", "192.0.2.5 id 6 signal", "192.0.2.6 id 7 subflow backup",
			"192.0.2.8 id 8 subflow"), 11},
	}
	for _, tc := range cases {
		name, observed := tc.name, tc.observed
		o := reconcile.Observed{Endpoints: observed, Limits: mptcp.Limits{Subflows: 8, AddAddrAccepted: 8}, Sysctls: map[string]string{"enabled": "1"}}
		if p := reconcile.NewPlan(d, o); len(p.Steps) != tc.steps {
			b.Fatalf("%s: plan has %d steps, want %d:\n%s", name, len(p.Steps), tc.steps, p)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				reconcile.NewPlan(d, o)
			}
		})
	}
}

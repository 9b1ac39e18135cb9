package reconcile_test

// Integration tests against the real kernel, each in namespaces of its own:
// random plans applied to the kernel and to the fake must do the same, and
// implicit endpoints made by a live MPTCP connection are taken over as
// planned.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/pkg/config"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/netstate"
	"github.com/mptcpd/mptcpd/pkg/pm"
	"github.com/mptcpd/mptcpd/pkg/reconcile"
	"github.com/mptcpd/mptcpd/pkg/reconcile/fakekernel"
)

var _ reconcile.PathManager = (*pm.Client)(nil)

// noSysctls is the sysctl side of a Kernel for plans without sysctl steps.
func noSysctls(t *testing.T) reconcile.SysctlWriter {
	return reconcile.SysctlWriterFunc(func(name, value string) error {
		t.Errorf("unexpected sysctl write %s=%s", name, value)
		return nil
	})
}

// dialIn returns a client for the path manager of namespace ns.
func dialIn(t *testing.T, ns string) *pm.Client {
	t.Helper()
	c, err := pm.Dial(pm.WithNetNS(nstest.Open(t, ns)))
	if err != nil {
		t.Fatalf("pm.Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// answer reduces a request's error to what fake and kernel must agree on.
func answer(err error) string {
	if err == nil {
		return "ok"
	}
	var errno unix.Errno
	var pe *pm.Error
	if errors.As(err, &errno) && errors.As(err, &pe) {
		return fmt.Sprintf("%v (kernel: %q)", errno, pe.Message)
	}
	return err.Error()
}

func realTable(t *testing.T, c *pm.Client) []mptcp.Endpoint {
	t.Helper()
	eps, err := c.Endpoints()
	if err != nil {
		t.Fatal(err)
	}
	return eps
}

func TestRandomPlansOnKernel(t *testing.T) {
	// Every address scenarios use is local here, so that endpoints with a
	// port can open their listening socket.
	ns := nstest.NewNS(t)
	nstest.IP(t, "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	nstest.IP(t, "-n", ns, "link", "set", "v0", "up")
	nstest.IP(t, "-n", ns, "link", "set", "v1", "up")
	var local []netip.Addr
	for _, s := range scenarioAddrs {
		a := netip.MustParseAddr(s)
		local = append(local, a)
		if a.Is6() {
			nstest.IP(t, "-n", ns, "addr", "add", s+"/64", "dev", "v0", "nodad")
		} else {
			nstest.IP(t, "-n", ns, "addr", "add", s+"/32", "dev", "v0")
		}
	}
	real := dialIn(t, ns)
	kernel := reconcile.NewKernel(real, noSysctls(t))

	seed := uint64(time.Now().UnixNano())
	rounds := 40
	if s := os.Getenv("MPTCPD_PLAN_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MPTCPD_PLAN_SEED: %v", err)
		}
		seed, rounds = v, 1
	}
	t.Logf("first seed %d (replay one with MPTCPD_PLAN_SEED)", seed)
	for i := range rounds {
		s := seed + uint64(i)
		c := randChooser{rand.New(rand.NewPCG(s, s))}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d: "+format, append([]any{s}, args...)...)
		}

		// Both start empty, with the same limits and a fresh allocator.
		if err := real.Flush(); err != nil {
			t.Fatal(err)
		}
		fake := fakekernel.New(fakekernel.WithLocalAddrs(local...))
		l, err := real.Limits()
		if err != nil {
			t.Fatal(err)
		}
		if err := fake.SetLimits(mptcp.LimitsUpdate{Subflows: &l.Subflows, AddAddrAccepted: &l.AddAddrAccepted}); err != nil {
			t.Fatal(err)
		}

		sc := genDesired(c)
		sc.cfg.Sysctls = nil // the sysctls are another package's
		var history []string
		for _, op := range genHistory(c, sc.cfg, sc.net) {
			if op.fakeOnly() {
				continue
			}
			history = append(history, op.String())
			if got, want := answer(op.apply(fake)), answer(op.apply(real)); got != want {
				fail("%s: fake %s, kernel %s\nhistory:\n%s", op, got, want, strings.Join(history, "\n"))
			}
		}
		before := realTable(t, real)
		fakeBefore, _ := fake.Endpoints()
		if diff := cmp.Diff(before, fakeBefore, cmpAddr); diff != "" {
			fail("tables differ after the history (-kernel +fake):\n%s", diff)
		}

		limits, _ := real.Limits()
		d := reconcile.Desired{Config: sc.cfg, Net: sc.net, Owned: genOwned(c, before)}
		p := reconcile.NewPlan(d, reconcile.Observed{Endpoints: before, Limits: limits})
		realRes, realErr := reconcile.Apply(kernel, p)
		fakeRes, fakeErr := reconcile.Apply(fake, p)
		if realErr != nil {
			fail("Apply on the kernel: %v\nplan:\n%s", realErr, p)
		}
		if fakeErr != nil {
			fail("Apply on the fake: %v\nplan:\n%s", fakeErr, p)
		}
		if diff := cmp.Diff(realRes, fakeRes, cmpAddr); diff != "" {
			fail("results differ (-kernel +fake):\n%s\nplan:\n%s", diff, p)
		}
		after := realTable(t, real)
		fakeAfter, _ := fake.Endpoints()
		if diff := cmp.Diff(after, fakeAfter, cmpAddr); diff != "" {
			fail("tables differ after the plan (-kernel +fake):\n%s\nplan:\n%s", diff, p)
		}
		limits, _ = real.Limits()
		d.Owned = d.Owned.Record(realRes)
		if again := reconcile.NewPlan(d, reconcile.Observed{Endpoints: after, Limits: limits}); !again.Empty() {
			fail("planning again on the kernel:\n%s\nfirst plan:\n%s", again, p)
		}
	}
}

// implicitEndpoint connects the client of a fresh topology to the server,
// with the server announcing its second address, so that the client's
// subflow from its second address (which has no endpoint) makes the kernel
// create an implicit endpoint there. It returns the client's path manager
// and that endpoint.
func implicitEndpoint(t *testing.T) (nstest.Topology, *pm.Client, mptcp.Endpoint) {
	t.Helper()
	top := nstest.NewTopology(t)
	client, server := dialIn(t, top.Client), dialIn(t, top.Server)
	one, two := uint32(1), uint32(2)
	for _, c := range []*pm.Client{client, server} {
		if err := c.SetLimits(mptcp.LimitsUpdate{AddAddrAccepted: &one, Subflows: &two}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := server.AddEndpoint(mptcp.Endpoint{ID: 5, Addr: netip.MustParseAddr(nstest.ServerAddr2), Flags: mptcp.FlagSignal}); err != nil {
		t.Fatal(err)
	}
	ln := nstest.ListenMPTCP(t, top.Server, ":9000")
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	nstest.DialMPTCP(t, top.Client, net.JoinHostPort(nstest.ServerAddr1, "9000"))
	sconn, ok := <-accepted
	if !ok {
		t.Fatal("the server accepted no connection")
	}
	t.Cleanup(func() { sconn.Close() })

	var implicit mptcp.Endpoint
	nstest.Eventually(t, 5*time.Second, func() bool {
		for _, ep := range realTable(t, client) {
			if ep.Addr == netip.MustParseAddr(nstest.ClientAddr2) && ep.Flags.Has(mptcp.FlagImplicit) {
				implicit = ep
				return true
			}
		}
		return false
	}, "an implicit endpoint for the client's second address")
	return top, client, implicit
}

// clientHost is the client's links and addresses as the planner sees them.
func clientHost() netstate.Snapshot {
	return netstate.Snapshot{
		Links: []netstate.Link{
			{Index: 1, Name: "lo", AdminUp: true, LowerUp: true, Loopback: true},
			{Index: 2, Name: "c1", AdminUp: true, LowerUp: true},
			{Index: 3, Name: "c2", AdminUp: true, LowerUp: true},
		},
		Addrs: []netstate.Address{
			{IfIndex: 2, Addr: netip.MustParseAddr(nstest.ClientAddr1), PrefixLen: 24},
			{IfIndex: 3, Addr: netip.MustParseAddr(nstest.ClientAddr2), PrefixLen: 24},
		},
	}
}

func TestPlanTakesOverImplicitEndpointOnKernel(t *testing.T) {
	_, client, implicit := implicitEndpoint(t)
	cfg := exclusive(fixed(nstest.ClientAddr2 + " subflow backup"))
	d := reconcile.Desired{Config: cfg, Net: clientHost()}
	p := reconcile.NewPlan(d, reconcile.Observed{Endpoints: realTable(t, client)})
	want := []reconcile.Step{takeover(implicit.String(), nstest.ClientAddr2+" subflow backup", "")}
	if diff := cmp.Diff(want, p.Steps, cmpAddr); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
	if p.Disruptive() {
		t.Error("a takeover is planned as disruptive")
	}

	// The fake, in the same state, does the same.
	fake := fakekernel.New()
	if id, err := fake.InjectImplicit(implicit.Addr); err != nil || id != implicit.ID {
		t.Fatalf("fake implicit endpoint: id %d, %v; the kernel's has id %d", id, err, implicit.ID)
	}
	fakeRes, err := reconcile.Apply(fake, p)
	if err != nil {
		t.Fatal(err)
	}
	res, err := reconcile.Apply(reconcile.NewKernel(client, noSysctls(t)), p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fakeRes, res, cmpAddr); diff != "" {
		t.Errorf("results (-fake +kernel):\n%s", diff)
	}
	wantTable := eps(fmt.Sprintf("%s id %d subflow backup", nstest.ClientAddr2, implicit.ID))
	if diff := cmp.Diff(wantTable, realTable(t, client), cmpAddr); diff != "" {
		t.Errorf("endpoints (-want +got): the implicit endpoint's id must stay\n%s", diff)
	}
	if again := reconcile.NewPlan(d, reconcile.Observed{Endpoints: realTable(t, client)}); !again.Empty() {
		t.Errorf("planning again:\n%s", again)
	}
}

func TestPlanTakesOverImplicitEndpointOnFullTableOnKernel(t *testing.T) {
	_, client, implicit := implicitEndpoint(t)
	// Fill the table: seven more endpoints beside the implicit one.
	cfg := exclusive(fixed(nstest.ClientAddr2 + " subflow"))
	for i := 1; i <= 7; i++ {
		e := fixed(fmt.Sprintf("10.9.0.%d subflow", i))
		cfg.Endpoints = append(cfg.Endpoints, e)
		if _, err := client.AddEndpoint(mptcp.Endpoint{Addr: e.Address, Flags: e.Flags}); err != nil {
			t.Fatal(err)
		}
	}
	// What the planner relies on: the kernel checks for a free slot before
	// it looks for an implicit endpoint to take over.
	_, err := client.AddEndpoint(mptcp.Endpoint{Addr: implicit.Addr, Flags: mptcp.FlagSubflow})
	if !errors.Is(err, unix.ERANGE) {
		t.Fatalf("takeover on a full table: got %v, want ERANGE", err)
	}

	host := clientHost()
	for i := 1; i <= 7; i++ {
		host.Addrs = append(host.Addrs, netstate.Address{IfIndex: 2, Addr: netip.MustParseAddr(fmt.Sprintf("10.9.0.%d", i)), PrefixLen: 32})
	}
	d := reconcile.Desired{Config: cfg, Net: host}
	p := reconcile.NewPlan(d, reconcile.Observed{Endpoints: realTable(t, client)})
	want := []reconcile.Step{replace(implicit.String(), "", nstest.ClientAddr2+" subflow", "", "table full, "+fullTable)}
	if diff := cmp.Diff(want, p.Steps, cmpAddr); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
	if _, err := reconcile.Apply(reconcile.NewKernel(client, noSysctls(t)), p); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if again := reconcile.NewPlan(d, reconcile.Observed{Endpoints: realTable(t, client)}); !again.Empty() {
		t.Errorf("planning again:\n%s", again)
	}
}

// TestOwnedStoreSurvivesRestartOnKernel plays a daemon restart under shared
// ownership: what one run made and saved, the next run (a new store on the
// same file) still treats as its own, while another manager's endpoint
// stays.
func TestOwnedStoreSurvivesRestartOnKernel(t *testing.T) {
	ns := nstest.NewNS(t)
	c := dialIn(t, ns)
	foreign := mptcp.Endpoint{Addr: netip.MustParseAddr("203.0.113.50"), Flags: mptcp.FlagSubflow}
	if _, err := c.AddEndpoint(foreign); err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/owned.json"
	run := func(cfg *config.Config) reconcile.Plan {
		t.Helper()
		st := reconcile.OwnedStore{Path: path}
		owned, err := st.Load()
		if err != nil {
			t.Fatal(err)
		}
		d := reconcile.Desired{Config: cfg, Net: host(), Owned: owned}
		p := reconcile.NewPlan(d, reconcile.Observed{Endpoints: realTable(t, c)})
		res, err := reconcile.Apply(reconcile.NewKernel(c, noSysctls(t)), p)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Save(owned.Record(res).Retain(realTable(t, c))); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run(shared(fixed("192.0.2.1 subflow"), fixed("192.0.2.2 signal")))
	// "Restart" with a file that drops 192.0.2.2.
	p := run(shared(fixed("192.0.2.1 subflow")))
	if len(p.Steps) != 1 || p.Steps[0].Kind != reconcile.Delete || p.Steps[0].From.Addr.String() != "192.0.2.2" {
		t.Errorf("second run: want one delete of 192.0.2.2, got:\n%s", p)
	}
	got := realTable(t, c)
	var addrs []string
	for _, e := range got {
		addrs = append(addrs, e.Addr.String())
	}
	if diff := cmp.Diff([]string{"203.0.113.50", "192.0.2.1"}, addrs); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
}

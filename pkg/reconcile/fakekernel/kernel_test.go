package fakekernel_test

// Integration test: the same random requests against the fake and against
// the real kernel in a fresh namespace must get the same answers and leave
// the same endpoint tables.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/pm"
	"github.com/mptcpd/mptcpd/pkg/reconcile"
	"github.com/mptcpd/mptcpd/pkg/reconcile/fakekernel"
)

var _ reconcile.PathManager = (*pm.Client)(nil)

// pathManager is what both the fake and the real client answer.
type pathManager interface {
	reconcile.PathManager
	Endpoints() ([]mptcp.Endpoint, error)
	Endpoint(id uint8) (mptcp.Endpoint, error)
	Flush() error
	Limits() (mptcp.Limits, error)
	CloseInitialSubflows(netip.Addr) error
}

var (
	// Assigned in the namespace, so endpoints with a port can listen.
	localAddrs = []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "2001:db8::1", "2001:db8::2"}
	// Not assigned: fine without a port, EADDRNOTAVAIL with one.
	remoteAddrs = []string{"10.0.0.9", "2001:db8::9", "::ffff:10.0.0.2", "198.51.100.7", "198.51.100.8", "198.51.100.9", "203.0.113.1", "203.0.113.2"}
)

// request is one random request, with a description for failure messages.
type request struct {
	desc string
	do   func(pathManager) (any, error)
}

// randomRequest makes a request; existing are the ids in the table, which
// deletes, gets and flag changes mostly aim at.
func randomRequest(r *rand.Rand, existing []uint8) request {
	addrs := append(append([]string(nil), localAddrs...), remoteAddrs...)
	randAddr := func() netip.Addr { return netip.MustParseAddr(addrs[r.IntN(len(addrs))]) }
	randID := func() uint8 {
		switch r.IntN(6) {
		case 0:
			return 0
		case 1:
			return uint8(250 + r.IntN(6))
		}
		return uint8(1 + r.IntN(10))
	}
	someID := func() uint8 {
		if len(existing) > 0 && r.IntN(3) != 0 {
			return existing[r.IntN(len(existing))]
		}
		return randID()
	}
	randFlags := func() mptcp.Flags {
		f := mptcp.Flags(r.IntN(0x40))
		if r.IntN(4) != 0 {
			f &^= mptcp.FlagImplicit
		}
		if r.IntN(12) == 0 {
			f |= 0x40 // unknown to the kernel
		}
		return f
	}
	randPort := func() uint16 {
		if r.IntN(3) == 0 {
			return uint16(8080 + r.IntN(2))
		}
		return 0
	}
	switch n := r.IntN(20); {
	case n < 10:
		ep := mptcp.Endpoint{ID: randID(), Addr: randAddr(), Flags: randFlags(), Port: randPort(), IfIndex: int32(r.IntN(4))}
		if r.IntN(2) == 0 { // mostly requests that can succeed
			ep.Flags &^= mptcp.FlagImplicit
			if ep.Port != 0 {
				ep.Flags = ep.Flags&^(mptcp.FlagSubflow|mptcp.FlagFullmesh) | mptcp.FlagSignal
			}
		}
		return request{"add " + ep.String(), func(k pathManager) (any, error) { return k.AddEndpoint(ep) }}
	case n < 12:
		id := someID()
		if id == 0 {
			id = 1
		}
		return request{fmt.Sprintf("delete id %d", id), func(k pathManager) (any, error) { return nil, k.DeleteEndpoint(id) }}
	case n < 17:
		ep := mptcp.Endpoint{Flags: randFlags()}
		if r.IntN(3) == 0 {
			ep.ID = someID()
			if ep.ID == 0 {
				ep.ID = 1
			}
		} else {
			ep.Addr, ep.Port = randAddr(), randPort()
		}
		return request{"set flags " + ep.String(), func(k pathManager) (any, error) { return nil, k.SetFlags(ep) }}
	case n == 17 && r.IntN(2) == 0:
		a := randAddr()
		return request{"delete id 0 " + a.String(), func(k pathManager) (any, error) { return nil, k.CloseInitialSubflows(a) }}
	case n < 18:
		id := someID()
		return request{fmt.Sprintf("get id %d", id), func(k pathManager) (any, error) { return k.Endpoint(id) }}
	case n < 19:
		var u mptcp.LimitsUpdate
		if r.IntN(2) == 0 {
			v := uint32(r.IntN(10))
			u.Subflows = &v
		}
		if r.IntN(2) == 0 {
			v := uint32(r.IntN(10))
			u.AddAddrAccepted = &v
		}
		return request{"set limits", func(k pathManager) (any, error) {
			if err := k.SetLimits(u); err != nil {
				return nil, err
			}
			return k.Limits()
		}}
	default:
		return request{"flush", func(k pathManager) (any, error) { return nil, k.Flush() }}
	}
}

// outcome reduces an error to what must agree: the errno, or the error text
// for refusals the client makes itself.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		var pe *pm.Error
		if errors.As(err, &pe) {
			return fmt.Sprintf("%v (kernel: %q)", errno, pe.Message)
		}
		return errno.Error()
	}
	return "client: " + err.Error()
}

// newRealNS makes a namespace whose local addresses are localAddrs and
// returns a client for it.
func newRealNS(t *testing.T) *pm.Client {
	t.Helper()
	ns := nstest.NewNS(t)
	// A veth pair with both ends here: this kernel has no dummy driver.
	nstest.IP(t, "-n", ns, "link", "add", "dummy0", "type", "veth", "peer", "name", "dummy1")
	nstest.IP(t, "-n", ns, "link", "set", "dummy0", "up")
	nstest.IP(t, "-n", ns, "link", "set", "dummy1", "up")
	for _, a := range localAddrs {
		if strings.Contains(a, ":") {
			nstest.IP(t, "-n", ns, "addr", "add", a+"/64", "dev", "dummy0", "nodad")
		} else {
			nstest.IP(t, "-n", ns, "addr", "add", a+"/24", "dev", "dummy0")
		}
	}
	c, err := pm.Dial(pm.WithNetNS(nstest.Open(t, ns)))
	if err != nil {
		t.Fatalf("pm.Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newFake() *fakekernel.Kernel {
	var local []netip.Addr
	for _, a := range localAddrs {
		local = append(local, netip.MustParseAddr(a))
	}
	return fakekernel.New(fakekernel.WithLocalAddrs(local...))
}

func TestFakeAgreesWithKernel(t *testing.T) {
	real := newRealNS(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MPTCPD_FAKE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MPTCPD_FAKE_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with MPTCPD_FAKE_SEED)", seed)
	r := rand.New(rand.NewPCG(seed, seed))
	const sequences, length = 12, 50
	seen := map[string]int{}
	defer func() { t.Logf("answers seen: %v", seen) }()
	for s := range sequences {
		// Each sequence starts from an empty table and a fresh allocator
		// on both sides; the limits, which a flush keeps, are copied.
		fake := newFake()
		if err := real.Flush(); err != nil {
			t.Fatal(err)
		}
		l, err := real.Limits()
		if err != nil {
			t.Fatal(err)
		}
		if err := fake.SetLimits(mptcp.LimitsUpdate{Subflows: &l.Subflows, AddAddrAccepted: &l.AddAddrAccepted}); err != nil {
			t.Fatal(err)
		}
		var history []string
		for i := range length {
			var ids []uint8
			if eps, err := real.Endpoints(); err == nil {
				for _, e := range eps {
					ids = append(ids, e.ID)
				}
			}
			req := randomRequest(r, ids)
			history = append(history, req.desc)
			fakeVal, fakeErr := req.do(fake)
			realVal, realErr := req.do(real)
			seen[outcome(realErr)]++
			if got, want := outcome(fakeErr), outcome(realErr); got != want {
				t.Fatalf("sequence %d, request %d (%s): fake %s, kernel %s\nhistory:\n%s", s, i, req.desc, got, want, strings.Join(history, "\n"))
			}
			if diff := cmp.Diff(realVal, fakeVal, cmpAddr); realErr == nil && diff != "" {
				t.Fatalf("sequence %d, request %d (%s): answers differ (-kernel +fake):\n%s\nhistory:\n%s", s, i, req.desc, diff, strings.Join(history, "\n"))
			}
			realEPs, err := real.Endpoints()
			if err != nil {
				t.Fatal(err)
			}
			fakeEPs, _ := fake.Endpoints()
			if diff := cmp.Diff(realEPs, fakeEPs, cmpAddr); diff != "" {
				t.Fatalf("sequence %d, after request %d (%s): tables differ (-kernel +fake):\n%s\nhistory:\n%s", s, i, req.desc, diff, strings.Join(history, "\n"))
			}
		}
	}
}

// TestSemanticsOnKernel runs the fake's scripted sequences on the real
// kernel, so the expectations written there are the kernel's, not ours.
func TestSemanticsOnKernel(t *testing.T) {
	real := newRealNS(t)
	for _, tt := range semanticsCases() {
		if tt.fakeOnly {
			continue // implicit endpoints need live connections; see the reconcile tests
		}
		t.Run(tt.name, func(t *testing.T) {
			if err := real.Flush(); err != nil {
				t.Fatal(err)
			}
			runSemanticsCase(t, real, tt)
		})
	}
}

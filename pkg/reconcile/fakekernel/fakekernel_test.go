package fakekernel_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/pm"
	"github.com/mptcpd/mptcpd/pkg/reconcile"
	"github.com/mptcpd/mptcpd/pkg/reconcile/fakekernel"
)

var (
	_ reconcile.Kernel = (*fakekernel.Kernel)(nil)

	cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
)

// ep parses "10.0.0.1 port 80 id 3 signal backup ifindex 2 rawflags 40".
func ep(s string) mptcp.Endpoint {
	f := strings.Fields(s)
	e := mptcp.Endpoint{Addr: netip.MustParseAddr(f[0])}
	for i := 1; i < len(f); i++ {
		num := func(base int) uint64 {
			i++
			n, err := strconv.ParseUint(f[i], base, 32)
			if err != nil {
				panic(fmt.Sprintf("endpoint %q: %v", s, err))
			}
			return n
		}
		switch f[i] {
		case "id":
			e.ID = uint8(num(10))
		case "port":
			e.Port = uint16(num(10))
		case "ifindex":
			e.IfIndex = int32(num(10))
		case "rawflags":
			e.Flags |= mptcp.Flags(num(16))
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
	out := []mptcp.Endpoint{}
	for _, s := range ss {
		out = append(out, ep(s))
	}
	return out
}

// call is one request of a scripted sequence and the errno it must get (0
// for success). The sequences run against the fake here and against the
// real kernel in kernel_test.go.
type call struct {
	do   func(pathManager) error
	want unix.Errno
}

func addEP(s string, want unix.Errno) call {
	return call{func(k pathManager) error { _, err := k.AddEndpoint(ep(s)); return err }, want}
}

func delID(id uint8, want unix.Errno) call {
	return call{func(k pathManager) error { return k.DeleteEndpoint(id) }, want}
}

func flags(s string, want unix.Errno) call {
	return call{func(k pathManager) error { return k.SetFlags(ep(s)) }, want}
}

func flush() call { return call{func(k pathManager) error { return k.Flush() }, 0} }

// implicit injects an implicit endpoint; only the fake can (sequences
// with it are fake-only).
func implicit(a string, want unix.Errno) call {
	return call{func(k pathManager) error {
		_, err := k.(*fakekernel.Kernel).InjectImplicit(netip.MustParseAddr(a))
		return err
	}, want}
}

func addN(n int) []call {
	var out []call
	for i := 1; i <= n; i++ {
		out = append(out, addEP(fmt.Sprintf("10.0.0.%d subflow", i), 0))
	}
	return out
}

// semanticsCase is a scripted sequence and the table it must leave.
type semanticsCase struct {
	name     string
	calls    []call
	want     []mptcp.Endpoint
	fakeOnly bool // injects implicit endpoints
}

// semanticsCases are KERNEL.md's rules as request sequences.
func semanticsCases() []semanticsCase {
	return []semanticsCase{
		{
			name:  "the ninth endpoint is ERANGE",
			calls: append(addN(8), addEP("10.0.1.1 subflow", unix.ERANGE)),
			want: eps("10.0.0.1 id 1 subflow", "10.0.0.2 id 2 subflow", "10.0.0.3 id 3 subflow", "10.0.0.4 id 4 subflow",
				"10.0.0.5 id 5 subflow", "10.0.0.6 id 6 subflow", "10.0.0.7 id 7 subflow", "10.0.0.8 id 8 subflow"),
		},
		{
			name: "a full table is checked before duplicates",
			calls: append(addN(8),
				addEP("10.0.0.1 subflow", unix.ERANGE),
				addEP("10.0.1.1 id 1 subflow", unix.ERANGE)),
			want: eps("10.0.0.1 id 1 subflow", "10.0.0.2 id 2 subflow", "10.0.0.3 id 3 subflow", "10.0.0.4 id 4 subflow",
				"10.0.0.5 id 5 subflow", "10.0.0.6 id 6 subflow", "10.0.0.7 id 7 subflow", "10.0.0.8 id 8 subflow"),
		},
		{
			name: "duplicate address is EEXIST, IPv4-mapped included",
			calls: []call{
				addEP("10.0.0.1 subflow", 0),
				addEP("10.0.0.1 signal", unix.EEXIST),
				addEP("::ffff:10.0.0.1 subflow", unix.EEXIST),
			},
			want: eps("10.0.0.1 id 1 subflow"),
		},
		{
			name: "same address with another port is another endpoint; the same port again is EADDRINUSE",
			calls: []call{
				addEP("10.0.0.1 signal", 0),
				addEP("10.0.0.1 port 8080 signal", 0),
				addEP("10.0.0.1 port 8081 signal", 0),
				addEP("10.0.0.1 port 8080 signal", unix.EADDRINUSE),
				addEP("10.0.0.1 subflow", unix.EEXIST),
			},
			want: eps("10.0.0.1 id 1 signal", "10.0.0.1 port 8080 id 2 signal", "10.0.0.1 port 8081 id 3 signal"),
		},
		{
			name:  "duplicate id is EBUSY",
			calls: []call{addEP("10.0.0.1 id 5 subflow", 0), addEP("10.0.0.2 id 5 subflow", unix.EBUSY)},
			want:  eps("10.0.0.1 id 5 subflow"),
		},
		{
			name: "ids: next free after the highest handed out; a freed highest id is reused, lower ones are not",
			calls: append(addN(3),
				delID(3, 0), addEP("10.0.1.4 subflow", 0), // takes 3 again
				delID(2, 0), addEP("10.0.1.5 subflow", 0)), // takes 4, not 2
			want: eps("10.0.0.1 id 1 subflow", "10.0.1.4 id 3 subflow", "10.0.1.5 id 4 subflow"),
		},
		{
			name: "ids wrap to 1 after 255",
			calls: []call{
				addEP("10.0.2.1 id 254 subflow", 0),
				addEP("10.0.2.2 subflow", 0),
				addEP("10.0.2.3 subflow", 0),
				addEP("10.0.2.4 subflow", 0),
			},
			want: eps("10.0.2.3 id 1 subflow", "10.0.2.4 id 2 subflow", "10.0.2.1 id 254 subflow", "10.0.2.2 id 255 subflow"),
		},
		{
			name:  "an explicit id raises the allocator",
			calls: []call{addEP("10.0.2.1 id 255 subflow", 0), addEP("10.0.2.2 subflow", 0), addEP("10.0.2.3 id 7 subflow", 0), addEP("10.0.2.4 subflow", 0)},
			want:  eps("10.0.2.2 id 1 subflow", "10.0.2.3 id 7 subflow", "10.0.2.4 id 8 subflow", "10.0.2.1 id 255 subflow"),
		},
		{
			name:  "flush resets the allocator",
			calls: append(addN(3), flush(), addEP("10.0.3.1 subflow", 0)),
			want:  eps("10.0.3.1 id 1 subflow"),
		},
		{
			name: "a port needs signal without subflow",
			calls: []call{
				addEP("10.0.0.1 port 80 subflow", unix.EINVAL),
				addEP("10.0.0.1 port 80 signal subflow", unix.EINVAL),
				addEP("10.0.0.1 port 80", unix.EINVAL),
				addEP("10.0.0.1 port 80 signal backup", 0),
				addEP("fe80::1 port 80 signal", unix.EINVAL), // a listener cannot bind a link-local address
			},
			want: eps("10.0.0.1 port 80 id 1 signal backup"),
		},
		{
			name:  "signal with fullmesh, and implicit, are EINVAL",
			calls: []call{addEP("10.0.0.1 signal fullmesh", unix.EINVAL), addEP("10.0.0.1 implicit", unix.EINVAL), addEP("10.0.0.1 subflow fullmesh", 0)},
			want:  eps("10.0.0.1 id 1 subflow fullmesh"),
		},
		{
			name:  "unknown flag bits are dropped",
			calls: []call{addEP("10.0.0.1 subflow rawflags 40", 0), addEP("10.0.0.2 rawflags 100", 0)},
			want:  eps("10.0.0.1 id 1 subflow", "10.0.0.2 id 2"),
		},
		{
			name:  "ifindex is stored as given",
			calls: []call{addEP("10.0.0.1 subflow ifindex 4242", 0)},
			want:  eps("10.0.0.1 id 1 subflow ifindex 4242"),
		},
		{
			name: "set flags changes only backup and fullmesh, found by address or by id",
			calls: []call{
				addEP("10.0.0.1 subflow", 0),
				addEP("10.0.0.2 signal", 0),
				flags("10.0.0.1 backup fullmesh signal laminar", 0),
				{func(k pathManager) error { return k.SetFlags(mptcp.Endpoint{ID: 2, Flags: mptcp.FlagBackup}) }, 0},
			},
			want: eps("10.0.0.1 id 1 subflow backup fullmesh", "10.0.0.2 id 2 signal backup"),
		},
		{
			name:     "set flags: fullmesh on a signal or implicit endpoint is EINVAL, unknown address EINVAL",
			fakeOnly: true,
			calls: []call{
				addEP("10.0.0.2 signal", 0),
				implicit("10.0.0.3", 0),
				flags("10.0.0.2 fullmesh", unix.EINVAL),
				flags("10.0.0.3 fullmesh", unix.EINVAL),
				flags("10.0.0.3 backup", 0),
				flags("10.0.0.9 backup", unix.EINVAL),
			},
			want: eps("10.0.0.2 id 1 signal", "10.0.0.3 id 2 implicit backup"),
		},
		{
			name: "set flags by address: an endpoint with a port matches only that port, one without matches any",
			calls: []call{
				addEP("10.0.0.1 signal", 0),
				addEP("10.0.0.1 port 8080 signal", 0),
				flags("10.0.0.1 port 8080 backup", 0),
				flags("10.0.0.1 port 9999 backup", 0),
			},
			want: eps("10.0.0.1 id 1 signal backup", "10.0.0.1 port 8080 id 2 signal backup"),
		},
		{
			name:  "delete by id; an unknown id is EINVAL",
			calls: []call{addEP("10.0.0.1 subflow", 0), delID(9, unix.EINVAL), delID(1, 0), delID(1, unix.EINVAL)},
			want:  eps(),
		},
		{
			name:     "implicit endpoints: taken over in place without an id, EINVAL with one",
			fakeOnly: true,
			calls: []call{
				implicit("10.0.0.5", 0),
				implicit("10.0.0.5", 0), // already covered
				addEP("10.0.0.5 id 9 subflow", unix.EINVAL),
				addEP("10.0.0.5 id 1 subflow", unix.EBUSY),
				addEP("10.0.0.5 subflow backup ifindex 3", 0),
			},
			want: eps("10.0.0.5 id 1 subflow backup ifindex 3"),
		},
		{
			name:     "implicit endpoints: a takeover on a full table is ERANGE",
			fakeOnly: true,
			calls: append(append(addN(7), implicit("10.0.1.1", 0)),
				implicit("10.0.1.2", unix.ERANGE),
				addEP("10.0.1.1 subflow", unix.ERANGE)),
			want: eps("10.0.0.1 id 1 subflow", "10.0.0.2 id 2 subflow", "10.0.0.3 id 3 subflow", "10.0.0.4 id 4 subflow",
				"10.0.0.5 id 5 subflow", "10.0.0.6 id 6 subflow", "10.0.0.7 id 7 subflow", "10.0.1.1 id 8 implicit"),
		},
	}
}

func TestFakeSemantics(t *testing.T) {
	for _, tt := range semanticsCases() {
		t.Run(tt.name, func(t *testing.T) {
			runSemanticsCase(t, fakekernel.New(), tt)
		})
	}
}

// runSemanticsCase runs the sequence on k, which must start empty.
func runSemanticsCase(t *testing.T, k pathManager, tt semanticsCase) {
	t.Helper()
	for i, c := range tt.calls {
		if errno := errnoOf(t, c.do(k)); errno != c.want {
			t.Errorf("call %d: errno %v (%d), want %v (%d)", i, errno, errno, c.want, c.want)
		}
	}
	got, err := k.Endpoints()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tt.want, got, cmpAddr); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
}

// errnoOf returns the errno inside err (0 for nil), and fails the test if
// err is not a *pm.Error.
func errnoOf(t *testing.T, err error) unix.Errno {
	t.Helper()
	if err == nil {
		return 0
	}
	var pe *pm.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *pm.Error", err, err)
	}
	var errno unix.Errno
	if !errors.As(err, &errno) {
		t.Fatalf("error %v has no errno", err)
	}
	return errno
}

func TestFakeSetFlagsByID(t *testing.T) {
	k := fakekernel.New()
	if _, err := k.AddEndpoint(ep("10.0.0.1 subflow")); err != nil {
		t.Fatal(err)
	}
	if err := k.SetFlags(mptcp.Endpoint{ID: 1, Flags: mptcp.FlagBackup}); err != nil {
		t.Fatal(err)
	}
	if err := k.SetFlags(mptcp.Endpoint{ID: 2, Flags: mptcp.FlagBackup}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("unknown id: got %v, want EINVAL", err)
	}
	if err := k.SetFlags(mptcp.Endpoint{Flags: mptcp.FlagBackup}); err == nil {
		t.Error("no address and no id: got nil error")
	}
	got, _ := k.Endpoint(1)
	if got.Flags != mptcp.FlagSubflow|mptcp.FlagBackup {
		t.Errorf("flags = %v, want subflow backup", got.Flags)
	}
}

func TestFakeDeleteIDZero(t *testing.T) {
	k := fakekernel.New()
	if _, err := k.AddEndpoint(ep("10.0.0.1 subflow")); err != nil {
		t.Fatal(err)
	}
	// The client refuses to send it as a delete ...
	if err := k.DeleteEndpoint(0); !errors.Is(err, pm.ErrIDZero) {
		t.Errorf("DeleteEndpoint(0): got %v, want pm.ErrIDZero", err)
	}
	// ... and the kernel, asked on purpose, deletes nothing and succeeds.
	if err := k.CloseInitialSubflows(netip.MustParseAddr("10.0.0.1")); err != nil {
		t.Errorf("CloseInitialSubflows: %v", err)
	}
	if got, _ := k.Endpoints(); len(got) != 1 {
		t.Errorf("endpoints after id 0 requests: %v, want the one endpoint still there", got)
	}
}

func TestFakeAddReturnsStored(t *testing.T) {
	k := fakekernel.New()
	got, err := k.AddEndpoint(ep("::ffff:10.0.0.1 subflow rawflags 40"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ep("10.0.0.1 id 1 subflow"), got, cmpAddr); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestFakeErrorsCarryTheKernelMessage(t *testing.T) {
	k := fakekernel.New()
	_, err := k.AddEndpoint(ep("10.0.0.1 port 80 subflow"))
	var pe *pm.Error
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a *pm.Error", err)
	}
	if pe.Message != "flags must have signal and not subflow when using port" || pe.Err != unix.EINVAL {
		t.Errorf("got %#v", pe)
	}
}

func TestFakeListenerNeedsLocalAddress(t *testing.T) {
	k := fakekernel.New(fakekernel.WithLocalAddrs(netip.MustParseAddr("10.0.0.1")))
	if _, err := k.AddEndpoint(ep("10.0.0.2 port 80 signal")); !errors.Is(err, unix.EADDRNOTAVAIL) {
		t.Errorf("non-local address: got %v, want EADDRNOTAVAIL", err)
	}
	if _, err := k.AddEndpoint(ep("10.0.0.1 port 80 signal")); err != nil {
		t.Errorf("local address: %v", err)
	}
	if _, err := k.AddEndpoint(ep("10.0.0.2 subflow")); err != nil {
		t.Errorf("without a port any address goes: %v", err)
	}
}

func TestFakeLimits(t *testing.T) {
	k := fakekernel.New()
	l, _ := k.Limits()
	if l != (mptcp.Limits{Subflows: 2}) {
		t.Errorf("defaults = %+v, want subflows 2 add_addr_accepted 0", l)
	}
	nine, four, three := uint32(9), uint32(4), uint32(3)
	if err := k.SetLimits(mptcp.LimitsUpdate{Subflows: &four, AddAddrAccepted: &nine}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("9: got %v, want EINVAL", err)
	}
	if l, _ := k.Limits(); l != (mptcp.Limits{Subflows: 2}) {
		t.Errorf("a refused update changed something: %+v", l)
	}
	if err := k.SetLimits(mptcp.LimitsUpdate{Subflows: &four}); err != nil {
		t.Fatal(err)
	}
	if err := k.SetLimits(mptcp.LimitsUpdate{AddAddrAccepted: &three}); err != nil {
		t.Fatal(err)
	}
	if err := k.Flush(); err != nil {
		t.Fatal(err)
	}
	if l, _ := k.Limits(); l != (mptcp.Limits{Subflows: 4, AddAddrAccepted: 3}) {
		t.Errorf("after updates and a flush: %+v, want subflows 4 add_addr_accepted 3", l)
	}
}

func TestFakeSysctls(t *testing.T) {
	k := fakekernel.New()
	if err := k.WriteSysctl("enabled", "0"); err != nil {
		t.Fatal(err)
	}
	if err := k.WriteSysctl("no_such_thing", "1"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("unknown sysctl: got %v, want ENOENT", err)
	}
	want := map[string]string{"enabled": "0", "path_manager": "kernel"}
	if diff := cmp.Diff(want, k.Sysctls("enabled", "path_manager", "no_such_thing")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestFakeFailureInjection(t *testing.T) {
	k := fakekernel.New()
	k.SetFailure(func(c fakekernel.Call) error {
		if c.Op == "add" && c.Endpoint.Addr == netip.MustParseAddr("10.0.0.2") {
			return unix.ENOMEM
		}
		return nil
	})
	if _, err := k.AddEndpoint(ep("10.0.0.1 subflow")); err != nil {
		t.Fatal(err)
	}
	_, err := k.AddEndpoint(ep("10.0.0.2 subflow"))
	var pe *pm.Error
	if !errors.As(err, &pe) || !errors.Is(err, unix.ENOMEM) {
		t.Errorf("got %v, want a *pm.Error wrapping ENOMEM", err)
	}
	k.SetFailure(nil)
	if _, err := k.AddEndpoint(ep("10.0.0.2 subflow")); err != nil {
		t.Errorf("after removing the hook: %v", err)
	}
	got, _ := k.Endpoints()
	if diff := cmp.Diff(eps("10.0.0.1 id 1 subflow", "10.0.0.2 id 2 subflow"), got, cmpAddr); diff != "" {
		t.Errorf("a failed call changed the table (-want +got):\n%s", diff)
	}
}

func TestFakeClone(t *testing.T) {
	k := fakekernel.New()
	if _, err := k.AddEndpoint(ep("10.0.0.1 subflow")); err != nil {
		t.Fatal(err)
	}
	if err := k.DeleteEndpoint(1); err != nil {
		t.Fatal(err)
	}
	c := k.Clone()
	if _, err := c.AddEndpoint(ep("10.0.0.2 subflow")); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteSysctl("enabled", "0"); err != nil {
		t.Fatal(err)
	}
	// The clone keeps the allocator: the freed highest id comes back.
	if got, _ := c.Endpoints(); len(got) != 1 || got[0].ID != 1 {
		t.Errorf("clone: %v, want one endpoint with id 1", got)
	}
	if got, _ := k.Endpoints(); len(got) != 0 {
		t.Errorf("original changed: %v", got)
	}
	if got := k.Sysctls("enabled"); got["enabled"] != "1" {
		t.Errorf("original sysctl changed: %v", got)
	}
}

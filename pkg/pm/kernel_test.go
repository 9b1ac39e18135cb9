package pm

// Integration tests against the real kernel, each in a fresh network
// namespace. They check the rules of the path manager that mptcpd relies on
// (KERNEL.md "Semantics"), through this client.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
)

// dialNS returns a client for a fresh namespace and the namespace's name.
func dialNS(t testing.TB) (*Client, string) {
	t.Helper()
	name := nstest.NewNS(t)
	return dialIn(t, name), name
}

func dialIn(t testing.TB, name string) *Client {
	t.Helper()
	c, err := Dial(WithNetNS(nstest.Open(t, name)))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func mustAdd(t *testing.T, c *Client, ep mptcp.Endpoint) mptcp.Endpoint {
	t.Helper()
	got, err := c.AddEndpoint(ep)
	if err != nil {
		t.Fatalf("AddEndpoint(%v): %v", ep, err)
	}
	return got
}

func wantErrno(t *testing.T, what string, err error, errno unix.Errno) {
	t.Helper()
	if !errors.Is(err, errno) {
		t.Fatalf("%s: got %v, want %v", what, err, errno)
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s: %T is not *pm.Error", what, err)
	}
}

func TestKernelAddListGetDelete(t *testing.T) {
	c, ns := dialNS(t)
	added := []mptcp.Endpoint{
		mustAdd(t, c, mptcp.Endpoint{Addr: addr("192.0.2.1"), Flags: mptcp.FlagSubflow | mptcp.FlagBackup, IfIndex: 1}),
		mustAdd(t, c, mptcp.Endpoint{ID: 42, Addr: addr("2001:db8::1"), Flags: mptcp.FlagSignal}),
		// IPv4-mapped goes in as IPv4; unknown flag bits are dropped.
		mustAdd(t, c, mptcp.Endpoint{Addr: addr("::ffff:198.51.100.3"), Flags: mptcp.FlagSubflow | mptcp.FlagFullmesh | 0x400}),
	}
	want := []mptcp.Endpoint{
		{ID: 1, Addr: addr("192.0.2.1"), Flags: mptcp.FlagSubflow | mptcp.FlagBackup, IfIndex: 1},
		{ID: 42, Addr: addr("2001:db8::1"), Flags: mptcp.FlagSignal},
		{ID: 43, Addr: addr("198.51.100.3"), Flags: mptcp.FlagSubflow | mptcp.FlagFullmesh},
	}
	if diff := cmp.Diff(want, added, addrCmp); diff != "" {
		t.Errorf("AddEndpoint results (-want +got):\n%s", diff)
	}
	got, err := c.Endpoints()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, addrCmp); diff != "" {
		t.Errorf("Endpoints (-want +got):\n%s", diff)
	}
	// The reference tool sees the same table.
	if got, want := nstest.IP(t, "-n", ns, "mptcp", "endpoint", "show"),
		"192.0.2.1 id 1 subflow backup dev lo \n2001:db8::1 id 42 signal \n198.51.100.3 id 43 subflow fullmesh \n"; got != want {
		t.Errorf("ip mptcp endpoint show:\n%q\nwant\n%q", got, want)
	}
	one, err := c.Endpoint(42)
	if err != nil || one != want[1] {
		t.Errorf("Endpoint(42) = %v, %v; want %v", one, err, want[1])
	}
	if err := c.DeleteEndpoint(42); err != nil {
		t.Fatal(err)
	}
	_, err = c.Endpoint(42)
	wantErrno(t, "Endpoint of a deleted id", err, unix.EINVAL)
	wantErrno(t, "DeleteEndpoint of an unknown id", c.DeleteEndpoint(42), unix.EINVAL)
	if err := c.DeleteEndpoint(0); !errors.Is(err, ErrIDZero) {
		t.Errorf("DeleteEndpoint(0) = %v, want ErrIDZero", err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Endpoints(); err != nil || len(got) != 0 {
		t.Errorf("after Flush: %v, %v; want none", got, err)
	}
}

func TestKernelAddRefusals(t *testing.T) {
	c, _ := dialNS(t)
	mustAdd(t, c, mptcp.Endpoint{ID: 5, Addr: addr("192.0.2.1"), Flags: mptcp.FlagSubflow})

	tests := []struct {
		name  string
		ep    mptcp.Endpoint
		errno unix.Errno
	}{
		{"duplicate address", mptcp.Endpoint{Addr: addr("192.0.2.1"), Flags: mptcp.FlagSignal}, unix.EEXIST},
		{"duplicate address, IPv4-mapped", mptcp.Endpoint{Addr: addr("::ffff:192.0.2.1")}, unix.EEXIST},
		{"duplicate id", mptcp.Endpoint{ID: 5, Addr: addr("192.0.2.2")}, unix.EBUSY},
		{"port with subflow", mptcp.Endpoint{Addr: addr("192.0.2.3"), Port: 1000, Flags: mptcp.FlagSignal | mptcp.FlagSubflow}, unix.EINVAL},
		{"port without signal", mptcp.Endpoint{Addr: addr("192.0.2.3"), Port: 1000}, unix.EINVAL},
		{"signal with fullmesh", mptcp.Endpoint{Addr: addr("192.0.2.3"), Flags: mptcp.FlagSignal | mptcp.FlagFullmesh}, unix.EINVAL},
		{"implicit requested", mptcp.Endpoint{Addr: addr("192.0.2.3"), Flags: mptcp.FlagImplicit}, unix.EINVAL},
		{"port on an address not local", mptcp.Endpoint{Addr: addr("192.0.2.3"), Port: 1000, Flags: mptcp.FlagSignal}, unix.EADDRNOTAVAIL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.AddEndpoint(tt.ep)
			wantErrno(t, fmt.Sprintf("AddEndpoint(%v)", tt.ep), err, tt.errno)
		})
	}
	// None of the refused requests left anything behind.
	if got, err := c.Endpoints(); err != nil || len(got) != 1 {
		t.Errorf("after refusals: %v, %v; want only id 5", got, err)
	}
}

func TestKernelNinthEndpoint(t *testing.T) {
	c, _ := dialNS(t)
	for i := 1; i <= mptcp.MaxEndpoints; i++ {
		mustAdd(t, c, mptcp.Endpoint{Addr: addr(fmt.Sprintf("192.0.2.%d", i)), Flags: mptcp.FlagSubflow})
	}
	_, err := c.AddEndpoint(mptcp.Endpoint{Addr: addr("192.0.2.9"), Flags: mptcp.FlagSubflow})
	wantErrno(t, "9th AddEndpoint", err, unix.ERANGE)
}

func TestKernelPortListener(t *testing.T) {
	c, ns := dialNS(t)
	nstest.IP(t, "-n", ns, "addr", "add", "192.0.2.1/24", "dev", "lo")
	// A listener already on the port: the kernel's own listener cannot bind.
	nstest.ListenMPTCP(t, ns, "192.0.2.1:7000")
	_, err := c.AddEndpoint(mptcp.Endpoint{Addr: addr("192.0.2.1"), Port: 7000, Flags: mptcp.FlagSignal})
	wantErrno(t, "AddEndpoint on a port in use", err, unix.EADDRINUSE)

	got := mustAdd(t, c, mptcp.Endpoint{Addr: addr("192.0.2.1"), Port: 7001, Flags: mptcp.FlagSignal})
	if got.Port != 7001 {
		t.Errorf("stored port %d, want 7001 (host byte order)", got.Port)
	}
	// The kernel now listens on the port itself: a plain listener cannot.
	err = nstest.Open(t, ns).Do(func() error {
		ln, err := net.Listen("tcp", "192.0.2.1:7001")
		if err == nil {
			ln.Close()
		}
		return err
	})
	if !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("listen on the endpoint's port: %v, want EADDRINUSE (the kernel's listener holds it)", err)
	}
}

func TestKernelIDAllocation(t *testing.T) {
	c, _ := dialNS(t)
	ids := func() []uint8 {
		t.Helper()
		eps, err := c.Endpoints()
		if err != nil {
			t.Fatal(err)
		}
		var out []uint8
		for _, ep := range eps {
			out = append(out, ep.ID)
		}
		return out
	}
	next := 1
	add := func(id uint8) uint8 {
		t.Helper()
		ep := mustAdd(t, c, mptcp.Endpoint{ID: id, Addr: addr(fmt.Sprintf("192.0.2.%d", next))})
		next++
		return ep.ID
	}
	if got := add(0); got != 1 {
		t.Errorf("first allocated id %d, want 1", got)
	}
	if got := add(10); got != 10 {
		t.Errorf("explicit id %d, want 10", got)
	}
	// Next free after the highest handed out.
	if got := add(0); got != 11 {
		t.Errorf("allocated id %d after 10, want 11", got)
	}
	// A freed id below the maximum is not reused.
	if err := c.DeleteEndpoint(1); err != nil {
		t.Fatal(err)
	}
	if got := add(0); got != 12 {
		t.Errorf("allocated id %d after freeing 1, want 12", got)
	}
	// Near the top the allocator wraps to the lowest free id.
	if got := add(255); got != 255 {
		t.Fatalf("explicit id %d, want 255", got)
	}
	if got := add(0); got != 1 {
		t.Errorf("allocated id %d after 255, want 1 (wrap-around)", got)
	}
	if diff := cmp.Diff([]uint8{1, 10, 11, 12, 255}, ids()); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	// Flush resets the allocator.
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := add(0); got != 1 {
		t.Errorf("allocated id %d after flush, want 1", got)
	}
}

func TestKernelSetFlags(t *testing.T) {
	c, _ := dialNS(t)
	sub := mustAdd(t, c, mptcp.Endpoint{ID: 3, Addr: addr("192.0.2.1"), Flags: mptcp.FlagSubflow | mptcp.FlagBackup, IfIndex: 1})
	sig := mustAdd(t, c, mptcp.Endpoint{ID: 4, Addr: addr("2001:db8::4"), Flags: mptcp.FlagSignal})

	// By address: backup off, fullmesh on; id, subflow and ifindex stay.
	if err := c.SetFlags(mptcp.Endpoint{Addr: sub.Addr, Flags: mptcp.FlagFullmesh | mptcp.FlagSignal}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Endpoint(3)
	if err != nil {
		t.Fatal(err)
	}
	if want := (mptcp.Endpoint{ID: 3, Addr: sub.Addr, Flags: mptcp.FlagSubflow | mptcp.FlagFullmesh, IfIndex: 1}); got != want {
		t.Errorf("after SetFlags by address: %v, want %v", got, want)
	}
	// By id, clearing everything: FLAGS 0 is sent and honoured.
	if err := c.SetFlags(mptcp.Endpoint{ID: 3}); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Endpoint(3); got.Flags != mptcp.FlagSubflow {
		t.Errorf("after clearing: flags %v, want subflow", got.Flags)
	}
	// Backup on a signal endpoint is fine; fullmesh is refused.
	if err := c.SetFlags(mptcp.Endpoint{Addr: sig.Addr, Flags: mptcp.FlagBackup}); err != nil {
		t.Errorf("backup on a signal endpoint: %v", err)
	}
	wantErrno(t, "fullmesh on a signal endpoint", c.SetFlags(mptcp.Endpoint{Addr: sig.Addr, Flags: mptcp.FlagFullmesh}), unix.EINVAL)
	wantErrno(t, "SetFlags of a missing address", c.SetFlags(mptcp.Endpoint{Addr: addr("192.0.2.99"), Flags: mptcp.FlagBackup}), unix.EINVAL)
}

func TestKernelLimits(t *testing.T) {
	c, _ := dialNS(t)
	got, err := c.Limits()
	if err != nil {
		t.Fatal(err)
	}
	if want := (mptcp.Limits{Subflows: 2, AddAddrAccepted: 0}); got != want {
		t.Errorf("default limits %+v, want %+v", got, want)
	}
	four, eight, nine := uint32(4), uint32(8), uint32(9)
	if err := c.SetLimits(mptcp.LimitsUpdate{AddAddrAccepted: &four}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetLimits(mptcp.LimitsUpdate{Subflows: &eight}); err != nil {
		t.Fatal(err)
	}
	// All or nothing: a refused value leaves the other untouched too.
	wantErrno(t, "subflows 9", c.SetLimits(mptcp.LimitsUpdate{Subflows: &nine, AddAddrAccepted: &eight}), unix.EINVAL)
	got, err = c.Limits()
	if err != nil {
		t.Fatal(err)
	}
	if want := (mptcp.Limits{Subflows: 8, AddAddrAccepted: 4}); got != want {
		t.Errorf("limits %+v, want %+v", got, want)
	}
	// Gets right after writes on one socket: no stray ACK in between.
	for range 3 {
		if _, err := c.Limits(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Endpoints(); err != nil {
			t.Fatal(err)
		}
	}
}

// connect makes an MPTCP connection from the client namespace of the
// topology to the server's first address, with the server announcing its
// second address (signal endpoint id 5). The client has no endpoint for its
// second address, so the subflow it opens towards the announcement makes the
// kernel create an implicit endpoint there.
func connect(t *testing.T, top nstest.Topology) (client, server *Client, cconn, sconn net.Conn) {
	t.Helper()
	client, server = dialIn(t, top.Client), dialIn(t, top.Server)
	one, two := uint32(1), uint32(2)
	if err := client.SetLimits(mptcp.LimitsUpdate{AddAddrAccepted: &one, Subflows: &two}); err != nil {
		t.Fatal(err)
	}
	if err := server.SetLimits(mptcp.LimitsUpdate{AddAddrAccepted: &one, Subflows: &two}); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, server, mptcp.Endpoint{ID: 5, Addr: addr(nstest.ServerAddr2), Flags: mptcp.FlagSignal})
	// A dual-stack wildcard listener: joins to the announced address need a
	// listener there, and the server's events then carry IPv4-mapped
	// addresses, which the client must unmap.
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
	cconn = nstest.DialMPTCP(t, top.Client, nstest.ServerAddr1+":9000")
	sconn, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { sconn.Close() })
	return client, server, cconn, sconn
}

// collect gathers events until match returns true or time runs out.
func collect(t *testing.T, s *EventStream, within time.Duration, match func(Event) bool) []Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var evs []Event
	for {
		ev, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for an event (have %v): %v", evs, err)
		}
		evs = append(evs, ev)
		if match(ev) {
			return evs
		}
	}
}

func TestKernelImplicitEndpointAndEvents(t *testing.T) {
	top := nstest.NewTopology(t)
	cEvents, err := DialEvents(WithNetNS(nstest.Open(t, top.Client)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cEvents.Close() })
	sEvents, err := DialEvents(WithNetNS(nstest.Open(t, top.Server)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sEvents.Close() })
	client, _, cconn, sconn := connect(t, top)

	evs := collect(t, cEvents, 5*time.Second, func(ev Event) bool { return ev.Type == EventSubEstablished })
	byType := map[EventType]Event{}
	for _, ev := range evs {
		byType[ev.Type] = ev
	}
	cl := cconn.LocalAddr().(*net.TCPAddr)
	created, ok := byType[EventCreated]
	if !ok {
		t.Fatalf("no CREATED event in %v", evs)
	}
	if created.Saddr != addr(nstest.ClientAddr1) || created.Daddr != addr(nstest.ServerAddr1) ||
		created.Sport != uint16(cl.Port) || created.Dport != 9000 || created.Token == 0 {
		t.Errorf("CREATED = %+v; want %s:%d -> %s:9000 with a token", created, nstest.ClientAddr1, cl.Port, nstest.ServerAddr1)
	}
	if ann, ok := byType[EventAnnounced]; !ok || ann.Daddr != addr(nstest.ServerAddr2) || ann.RemoteID != 5 {
		t.Errorf("ANNOUNCED = %+v (present %v); want remote id 5 at %s", ann, ok, nstest.ServerAddr2)
	}
	sub := byType[EventSubEstablished]
	if sub.Saddr != addr(nstest.ClientAddr2) || sub.Daddr != addr(nstest.ServerAddr2) || sub.Token != created.Token {
		t.Errorf("SF_ESTABLISHED = %+v; want %s -> %s on token %#x", sub, nstest.ClientAddr2, nstest.ServerAddr2, created.Token)
	}

	// The subflow from an address without endpoint made an implicit one.
	var implicit mptcp.Endpoint
	nstest.Eventually(t, 5*time.Second, func() bool {
		eps, err := client.Endpoints()
		if err != nil {
			t.Fatal(err)
		}
		for _, ep := range eps {
			if ep.Addr == addr(nstest.ClientAddr2) && ep.Flags.Has(mptcp.FlagImplicit) {
				implicit = ep
				return true
			}
		}
		return false
	}, "an implicit endpoint for the client's second address")
	if implicit.ID != sub.LocalID {
		t.Errorf("implicit endpoint id %d, SF_ESTABLISHED local id %d", implicit.ID, sub.LocalID)
	}
	// Fullmesh on an implicit endpoint is refused; an explicit id cannot
	// take its address over.
	wantErrno(t, "fullmesh on implicit", client.SetFlags(mptcp.Endpoint{Addr: implicit.Addr, Flags: mptcp.FlagFullmesh}), unix.EINVAL)
	_, err = client.AddEndpoint(mptcp.Endpoint{ID: 77, Addr: implicit.Addr, Flags: mptcp.FlagSubflow})
	wantErrno(t, "AddEndpoint with explicit id over an implicit endpoint", err, unix.EINVAL)
	// Without an id, ADD replaces it and keeps its id.
	replaced := mustAdd(t, client, mptcp.Endpoint{Addr: implicit.Addr, Flags: mptcp.FlagSubflow})
	if want := (mptcp.Endpoint{ID: implicit.ID, Addr: implicit.Addr, Flags: mptcp.FlagSubflow}); replaced != want {
		t.Errorf("replaced implicit endpoint = %v, want %v", replaced, want)
	}

	// A backup flip is in place: the peer sees a priority change and no
	// subflow closes.
	if err := client.SetFlags(mptcp.Endpoint{Addr: implicit.Addr, Flags: mptcp.FlagBackup}); err != nil {
		t.Fatal(err)
	}
	sevs := collect(t, sEvents, 5*time.Second, func(ev Event) bool { return ev.Type == EventSubPriority })
	prio := sevs[len(sevs)-1]
	if prio.Backup != 1 || prio.Saddr != addr(nstest.ServerAddr2) || prio.Daddr != addr(nstest.ClientAddr2) {
		t.Errorf("server SF_PRIO = %+v; want backup 1 on %s <- %s", prio, nstest.ServerAddr2, nstest.ClientAddr2)
	}
	for _, ev := range sevs {
		if ev.Type == EventSubClosed || ev.Type == EventClosed {
			t.Errorf("server saw %v during the flag change: %+v", ev.Type, ev)
		}
	}
	// Data still flows both ways.
	if _, err := cconn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(sconn, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}

	// Cancelling the context returns Next promptly once the events already
	// read are delivered (the client saw no priority change of its own, so
	// what is left is at most a few), and the stream stays usable.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var err2 error
	for range 100 {
		if _, err2 = cEvents.Next(ctx); err2 != nil {
			break
		}
	}
	if !errors.Is(err2, context.Canceled) {
		t.Errorf("Next with a cancelled context = %v, want context.Canceled", err2)
	}
	if err := client.DeleteEndpoint(replaced.ID); err != nil {
		t.Fatal(err)
	}
	collect(t, cEvents, 5*time.Second, func(ev Event) bool { return ev.Type == EventSubClosed })
}

// TestKernelDialNamespaceForms reaches one namespace by name, by path and
// by file descriptor: all three see the endpoint added through the first.
func TestKernelDialNamespaceForms(t *testing.T) {
	name := nstest.NewNS(t)
	byName, err := Dial(WithNetNSName(name))
	if err != nil {
		t.Fatal(err)
	}
	defer byName.Close()
	mustAdd(t, byName, mptcp.Endpoint{ID: 9, Addr: addr("192.0.2.9"), Flags: mptcp.FlagSignal})

	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for what, opt := range map[string]Option{
		"path": WithNetNSName("/run/netns/" + name),
		"fd":   WithNetNSFD(int(f.Fd())),
	} {
		c, err := Dial(opt)
		if err != nil {
			t.Fatalf("Dial by %s: %v", what, err)
		}
		got, err := c.Endpoints()
		c.Close()
		if err != nil || len(got) != 1 || got[0].ID != 9 {
			t.Errorf("Dial by %s sees %v, %v; want the endpoint id 9", what, got, err)
		}
	}
	if _, err := Dial(WithNetNSName("no-such-namespace-" + name)); err == nil {
		t.Error("Dial of a missing namespace succeeded")
	}
	// The process's own namespace is not the test's.
	own, err := Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	if eps, _ := own.Endpoints(); slices.ContainsFunc(eps, func(ep mptcp.Endpoint) bool { return ep.Addr == addr("192.0.2.9") }) {
		t.Error("the endpoint added by name shows in the process's own namespace")
	}
}

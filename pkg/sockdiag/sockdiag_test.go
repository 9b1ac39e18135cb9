package sockdiag

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mdlayher/netlink"
	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/pkg/netns"
	"golang.org/x/sys/unix"
)

// pair is two namespaces joined by a veth: a server at 10.0.0.1 and a
// client with two addresses, 10.0.0.2 (primary) and 10.0.0.3.
type pair struct {
	server, client          string // names
	serverNS, clientNS      netns.NS
	serverAddr              netip.Addr
	clientAddr, clientAddr2 netip.Addr
}

func newPair(t testing.TB) pair {
	t.Helper()
	p := pair{
		server:      nstest.NewNS(t),
		client:      nstest.NewNS(t),
		serverAddr:  netip.MustParseAddr("10.0.0.1"),
		clientAddr:  netip.MustParseAddr("10.0.0.2"),
		clientAddr2: netip.MustParseAddr("10.0.0.3"),
	}
	nstest.Veth(t, p.server, "srv0", p.client, "cli0")
	nstest.IP(t, "-n", p.server, "addr", "add", "10.0.0.1/24", "dev", "srv0")
	nstest.IP(t, "-n", p.client, "addr", "add", "10.0.0.2/24", "dev", "cli0")
	nstest.IP(t, "-n", p.client, "addr", "add", "10.0.0.3/24", "dev", "cli0")
	for _, ns := range []string{p.server, p.client} {
		nstest.IP(t, "-n", ns, "mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2")
	}
	p.serverNS = open(t, p.server)
	p.clientNS = open(t, p.client)
	return p
}

func open(t testing.TB, name string) netns.NS {
	t.Helper()
	ns, err := netns.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// listen starts an echo server inside ns. With mptcp it is an MPTCP
// listener on every address (dual-stack, so IPv4 peers appear as
// ::ffff:a.b.c.d on its sockets); otherwise plain TCP on addr.
func listen(t testing.TB, ns netns.NS, addr string, mptcp bool) *net.TCPAddr {
	t.Helper()
	var lc net.ListenConfig
	lc.SetMultipathTCP(mptcp)
	var ln net.Listener
	// Sockets keep the namespace they were created in.
	err := ns.Do(func() error {
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}

// dial connects from local (inside ns) to remote and checks that the
// connection works (and is MPTCP when asked for).
func dial(t testing.TB, ns netns.NS, local netip.Addr, remote netip.AddrPort, mptcp bool) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0)), Timeout: 5 * time.Second}
	d.SetMultipathTCP(mptcp)
	var c net.Conn
	err := ns.Do(func() error {
		var err error
		c, err = d.Dial("tcp", remote.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if got, err := c.(*net.TCPConn).MultipathTCP(); err != nil || got != mptcp {
		t.Fatalf("MultipathTCP() = %v, %v; want %v", got, err, mptcp)
	}
	// A round trip makes the connection fully established, after which
	// the path manager opens extra subflows.
	msg := []byte("ping")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitCounts polls CountSubflows until it returns want or a bounded time
// passes, and reports the difference of the last attempt.
func waitCounts(t *testing.T, ns netns.NS, want map[netip.Addr]int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := CountSubflows(ns)
		if err != nil {
			t.Fatal(err)
		}
		diff := cmp.Diff(want, got, equateIP())
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CountSubflows (-want +got):\n%s", diff)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCountSubflows(t *testing.T) {
	p := newPair(t)

	// Plain TCP beside MPTCP, in both directions of the same pair: none of
	// it may be counted.
	plain := listen(t, p.serverNS, "10.0.0.1:0", false)
	dial(t, p.clientNS, p.clientAddr, plain.AddrPort(), false)
	dial(t, p.clientNS, p.clientAddr2, plain.AddrPort(), false)

	srv := listen(t, p.serverNS, ":0", true)
	remote := netip.AddrPortFrom(p.serverAddr, srv.AddrPort().Port())
	dial(t, p.clientNS, p.clientAddr, remote, true)

	t.Run("one subflow", func(t *testing.T) {
		waitCounts(t, p.clientNS, map[netip.Addr]int{p.clientAddr: 1})
		// The server's socket is a dual-stack one: ::ffff:10.0.0.1 unmapped.
		waitCounts(t, p.serverNS, map[netip.Addr]int{p.serverAddr: 1})
	})

	nstest.IP(t, "-n", p.client, "mptcp", "endpoint", "add", p.clientAddr2.String(), "dev", "cli0", "subflow")

	t.Run("second subflow from the endpoint", func(t *testing.T) {
		waitCounts(t, p.clientNS, map[netip.Addr]int{p.clientAddr: 1, p.clientAddr2: 1})
		waitCounts(t, p.serverNS, map[netip.Addr]int{p.serverAddr: 2})
	})

	t.Run("subflow details", func(t *testing.T) {
		got, err := Subflows(p.clientNS)
		if err != nil {
			t.Fatal(err)
		}
		var remotes []netip.AddrPort
		for _, sf := range got {
			if sf.State != StateEstablished {
				t.Errorf("subflow %+v: state %v, want established", sf, sf.State)
			}
			remotes = append(remotes, sf.Remote)
		}
		if diff := cmp.Diff([]netip.AddrPort{remote, remote}, remotes, equateIP()); diff != "" {
			t.Errorf("remote ends of the client's subflows (-want +got):\n%s", diff)
		}
	})

	t.Run("listening subflow is listed but not counted", func(t *testing.T) {
		got, err := Subflows(p.serverNS)
		if err != nil {
			t.Fatal(err)
		}
		var listening []netip.AddrPort
		for _, sf := range got {
			if sf.State == StateListen {
				listening = append(listening, sf.Local)
			}
		}
		want := []netip.AddrPort{netip.AddrPortFrom(netip.IPv6Unspecified(), srv.AddrPort().Port())}
		if diff := cmp.Diff(want, listening, equateIP()); diff != "" {
			t.Errorf("listening subflows (-want +got):\n%s", diff)
		}
	})
}

func TestCountSubflowsIPv6(t *testing.T) {
	server, client := nstest.NewNS(t), nstest.NewNS(t)
	nstest.Veth(t, server, "srv0", client, "cli0")
	nstest.IP(t, "-n", server, "addr", "add", "2001:db8::1/64", "dev", "srv0", "nodad")
	nstest.IP(t, "-n", client, "addr", "add", "2001:db8::2/64", "dev", "cli0", "nodad")
	serverNS, clientNS := open(t, server), open(t, client)

	srv := listen(t, serverNS, "[2001:db8::1]:0", true)
	local := netip.MustParseAddr("2001:db8::2")
	dial(t, clientNS, local, srv.AddrPort(), true)

	waitCounts(t, clientNS, map[netip.Addr]int{local: 1})
	waitCounts(t, serverNS, map[netip.Addr]int{srv.AddrPort().Addr(): 1})
}

func TestCountSubflowsEmptyNamespace(t *testing.T) {
	ns := open(t, nstest.NewNS(t))
	got, err := CountSubflows(ns)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[netip.Addr]int{}, got, equateIP()); diff != "" {
		t.Errorf("CountSubflows (-want +got):\n%s", diff)
	}
}

func TestStateLive(t *testing.T) {
	tests := []struct {
		state State
		want  bool
	}{
		{StateEstablished, true},
		{StateSynSent, true},
		{StateSynRecv, true},
		{StateFinWait1, true},
		{StateFinWait2, true},
		{StateCloseWait, true},
		{StateLastAck, true},
		{StateClosing, true},
		{StateTimeWait, false},
		{StateClose, false},
		{StateListen, false},
	}
	for _, tt := range tests {
		if got := tt.state.Live(); got != tt.want {
			t.Errorf("%v.Live() = %v, want %v", tt.state, got, tt.want)
		}
		// The kernel-side filter must agree with Live.
		if got := liveStates&(1<<tt.state) != 0; got != tt.want {
			t.Errorf("liveStates has %v = %v, want %v", tt.state, got, tt.want)
		}
	}
}

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name    string
		msg     []byte
		want    Subflow
		wantOK  bool
		wantErr bool
	}{
		{
			name: "IPv4 subflow",
			msg: diagMsg(2, StateEstablished, netip.MustParseAddrPort("192.0.2.1:40000"),
				netip.MustParseAddrPort("198.51.100.1:443"), 3, ulpAttr("mptcp")),
			want: Subflow{
				Local:   netip.MustParseAddrPort("192.0.2.1:40000"),
				Remote:  netip.MustParseAddrPort("198.51.100.1:443"),
				State:   StateEstablished,
				IfIndex: 3,
			},
			wantOK: true,
		},
		{
			name: "dual-stack socket reports IPv4 mapped",
			msg: diagMsg(10, StateSynSent, netip.MustParseAddrPort("[::ffff:192.0.2.1]:1"),
				netip.MustParseAddrPort("[::ffff:198.51.100.1]:2"), 0, ulpAttr("mptcp")),
			want: Subflow{
				Local:  netip.MustParseAddrPort("192.0.2.1:1"),
				Remote: netip.MustParseAddrPort("198.51.100.1:2"),
				State:  StateSynSent,
			},
			wantOK: true,
		},
		{
			name:   "plain TCP has no ULP",
			msg:    diagMsg(2, StateEstablished, netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.2:2"), 0, nil),
			wantOK: false,
		},
		{
			name:   "another ULP",
			msg:    diagMsg(10, StateEstablished, netip.MustParseAddrPort("[2001:db8::1]:1"), netip.MustParseAddrPort("[2001:db8::2]:2"), 0, ulpAttr("tls")),
			wantOK: false,
		},
		{
			name:    "short message",
			msg:     make([]byte, sizeofDiagMsg-1),
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := parseMessage(tt.msg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if ok != tt.wantOK {
				t.Errorf("ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got, equateIP()); diff != "" {
				t.Errorf("Subflow (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarshalRequest(t *testing.T) {
	got := marshalRequest(10, liveStates)
	want := make([]byte, sizeofReq)
	want[0] = 10 // AF_INET6
	want[1] = 6  // IPPROTO_TCP
	want[2] = 0x02
	// liveStates in host (little-endian on the machines we test on) order:
	// every bit but 6 (time-wait), 7 (close) and 10 (listen).
	copy(want[4:8], []byte{0x3f, 0xfb, 0xff, 0xff})
	if diff := cmp.Diff(want, got, equateIP()); diff != "" {
		t.Errorf("inet_diag_req_v2 (-want +got):\n%s", diff)
	}
}

// diagMsg builds an inet_diag_msg as the kernel lays it out.
func diagMsg(family uint8, state State, local, remote netip.AddrPort, ifindex uint32, attrs []byte) []byte {
	b := make([]byte, sizeofDiagMsg)
	b[0] = family
	b[1] = uint8(state)
	id := b[4:52]
	id[0], id[1] = byte(local.Port()>>8), byte(local.Port())
	id[2], id[3] = byte(remote.Port()>>8), byte(remote.Port())
	put := func(dst []byte, a netip.Addr) {
		if family == 2 {
			a4 := a.As4()
			copy(dst, a4[:])
			return
		}
		a16 := a.As16()
		copy(dst, a16[:])
	}
	put(id[4:20], local.Addr())
	put(id[20:36], remote.Addr())
	id[36], id[37], id[38], id[39] = byte(ifindex), byte(ifindex>>8), byte(ifindex>>16), byte(ifindex>>24)
	return append(b, attrs...)
}

// ulpAttr encodes INET_DIAG_ULP_INFO { INET_ULP_INFO_NAME name } among
// other attributes, as the kernel sends them.
func ulpAttr(name string) []byte {
	ae := netlink.NewAttributeEncoder()
	// Numbers from linux/inet_diag.h, written out so that a wrong constant
	// in the code cannot agree with itself here.
	const (
		diagInfo    = 2  // INET_DIAG_INFO
		diagULPInfo = 19 // INET_DIAG_ULP_INFO
		diagSockopt = 22 // INET_DIAG_SOCKOPT: two bytes, not a nest
		ulpName     = 1  // INET_ULP_INFO_NAME
	)
	ae.Bytes(diagInfo, make([]byte, 8))
	ae.Bytes(diagSockopt, []byte{0x52, 0x00})
	ae.Nested(diagULPInfo, func(nae *netlink.AttributeEncoder) error {
		nae.String(ulpName, name)
		return nil
	})
	b, err := ae.Encode()
	if err != nil {
		panic(err)
	}
	return b
}

// TestWithoutNetAdmin runs CountSubflows in a copy of the test binary
// that has lost CAP_NET_ADMIN: it must refuse rather than report zero.
func TestWithoutNetAdmin(t *testing.T) {
	if os.Getenv(helperEnv) == "1" {
		_, err := CountSubflows(netns.Current())
		if !errors.Is(err, ErrNotPermitted) || !errors.Is(err, unix.EPERM) {
			t.Fatalf("CountSubflows without CAP_NET_ADMIN: err = %v, want ErrNotPermitted (EPERM)", err)
		}
		return
	}
	nstest.RequireRoot(t)
	cmd := exec.Command("setpriv", "--bounding-set", "-net_admin", "--", os.Args[0], "-test.run=^TestWithoutNetAdmin$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("test binary without CAP_NET_ADMIN: %v\n%s", err, out)
	}
}

const helperEnv = "MPTCPD_SOCKDIAG_NO_NET_ADMIN"

func BenchmarkCountSubflows(b *testing.B) {
	p := newPair(b)
	srv := listen(b, p.serverNS, ":0", true)
	remote := netip.AddrPortFrom(p.serverAddr, srv.AddrPort().Port())
	for range 8 {
		dial(b, p.clientNS, p.clientAddr, remote, true)
		dial(b, p.clientNS, p.clientAddr, remote, false)
	}
	for b.Loop() {
		if _, err := CountSubflows(p.clientNS); err != nil {
			b.Fatal(err)
		}
	}
}

// equateIP compares netip values with ==, as cmp cannot look inside them.
func equateIP() cmp.Option {
	return cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})
}

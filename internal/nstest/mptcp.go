package nstest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/mptcpd/mptcpd/pkg/netns"
)

// Open returns a handle on a namespace made by NewNS, closed by t.Cleanup.
func Open(t testing.TB, name string) netns.NS {
	t.Helper()
	ns, err := netns.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// Topology is two namespaces joined by two veth links, the shape MPTCP
// tests need: a client with two local addresses and a server with two.
//
//	client  c1 10.1.1.1/24  <->  s1 10.1.1.2/24  server
//	        c2 10.2.2.1/24  <->  s2 10.2.2.2/24
type Topology struct {
	Client, Server string // namespace names
}

// Addresses of Topology, by link.
const (
	ClientAddr1 = "10.1.1.1"
	ServerAddr1 = "10.1.1.2"
	ClientAddr2 = "10.2.2.1"
	ServerAddr2 = "10.2.2.2"
)

// NewTopology builds the two namespaces and links.
func NewTopology(t testing.TB) Topology {
	t.Helper()
	top := Topology{Client: NewNS(t), Server: NewNS(t)}
	Veth(t, top.Client, "c1", top.Server, "s1")
	Veth(t, top.Client, "c2", top.Server, "s2")
	IP(t, "-n", top.Client, "addr", "add", ClientAddr1+"/24", "dev", "c1")
	IP(t, "-n", top.Client, "addr", "add", ClientAddr2+"/24", "dev", "c2")
	IP(t, "-n", top.Server, "addr", "add", ServerAddr1+"/24", "dev", "s1")
	IP(t, "-n", top.Server, "addr", "add", ServerAddr2+"/24", "dev", "s2")
	return top
}

// ListenMPTCP opens an MPTCP listener inside the namespace (sockets keep the
// namespace they were created in), closed by t.Cleanup.
func ListenMPTCP(t testing.TB, ns string, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := Open(t, ns).Do(func() error {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen MPTCP on %s in %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// DialMPTCP opens an MPTCP connection from inside the namespace, closed by
// t.Cleanup. It fails the test if the connection fell back to plain TCP.
func DialMPTCP(t testing.TB, ns string, addr string) net.Conn {
	t.Helper()
	var conn net.Conn
	err := Open(t, ns).Do(func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		d.SetMultipathTCP(true)
		var err error
		conn, err = d.Dial("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("dial MPTCP %s from %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { conn.Close() })
	if tc, ok := conn.(*net.TCPConn); ok {
		if used, err := tc.MultipathTCP(); err != nil || !used {
			t.Fatalf("connection to %s is not MPTCP (used=%v, err=%v)", addr, used, err)
		}
	}
	return conn
}

// Eventually polls cond every few milliseconds until it holds or the
// deadline passes, then fails with msg. It bounds waiting for the kernel;
// it asserts no timing.
func Eventually(t testing.TB, within time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for: %s", within, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

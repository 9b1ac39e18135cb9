package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/netns"
	"github.com/mptcpd/mptcpd/pkg/pm"
)

// benchLink is the interface the daemons manage; its veth peer, up in the
// same namespace, gives it carrier.
const (
	benchLink = "bench0"
	benchPeer = "bench0p"
)

// netEnv is a throwaway network namespace with the bench link, and the
// sockets the bench drives it with: rtnetlink to add and delete addresses
// (no process start in the measurement) and the path manager to watch the
// endpoint table.
type netEnv struct {
	name    string
	ns      netns.NS
	rtnl    *rtnetlink.Conn
	pm      *pm.Client
	ifIndex uint32
}

// newNetEnv creates the namespace. Close deletes it.
func newNetEnv(name string) (*netEnv, error) {
	if err := ip("netns", "add", name); err != nil {
		return nil, err
	}
	e := &netEnv{name: name}
	if err := e.setup(); err != nil {
		return nil, errors.Join(err, e.Close())
	}
	return e, nil
}

func (e *netEnv) setup() error {
	for _, args := range [][]string{
		{"-n", e.name, "link", "set", "lo", "up"},
		{"-n", e.name, "link", "add", benchLink, "type", "veth", "peer", "name", benchPeer},
		{"-n", e.name, "link", "set", benchLink, "up"},
		{"-n", e.name, "link", "set", benchPeer, "up"},
	} {
		if err := ip(args...); err != nil {
			return err
		}
	}
	var err error
	if e.ns, err = netns.Open(e.name); err != nil {
		return err
	}
	if e.rtnl, err = rtnetlink.Dial(&netlink.Config{NetNS: e.ns.NetlinkFD()}); err != nil {
		return fmt.Errorf("dial rtnetlink in %s: %w", e.name, err)
	}
	if e.pm, err = pm.Dial(pm.WithNetNS(e.ns)); err != nil {
		return fmt.Errorf("dial the path manager in %s: %w", e.name, err)
	}
	return e.ns.Do(func() error {
		ifi, err := net.InterfaceByName(benchLink)
		if err != nil {
			return err
		}
		e.ifIndex = uint32(ifi.Index)
		return nil
	})
}

// Close closes the sockets and deletes the namespace.
func (e *netEnv) Close() error {
	var errs []error
	if e.pm != nil {
		errs = append(errs, e.pm.Close())
	}
	if e.rtnl != nil {
		errs = append(errs, e.rtnl.Close())
	}
	if e.ns != (netns.NS{}) {
		errs = append(errs, e.ns.Close())
	}
	errs = append(errs, ip("netns", "del", e.name))
	return errors.Join(errs...)
}

func (e *netEnv) addrMessage(a netip.Addr) *rtnetlink.AddressMessage {
	return &rtnetlink.AddressMessage{
		Family:       unix.AF_INET,
		PrefixLength: 32,
		Index:        e.ifIndex,
		Attributes: &rtnetlink.AddressAttributes{
			Address: a.AsSlice(),
			Local:   a.AsSlice(),
			Flags:   unix.IFA_F_NODAD,
		},
	}
}

// addAddr assigns a/32 to the bench link: one RTM_NEWADDR event.
func (e *netEnv) addAddr(a netip.Addr) error {
	if err := e.rtnl.Address.New(e.addrMessage(a)); err != nil {
		return fmt.Errorf("add address %s: %w", a, err)
	}
	return nil
}

// delAddr removes it again: one RTM_DELADDR event.
func (e *netEnv) delAddr(a netip.Addr) error {
	if err := e.rtnl.Address.Delete(e.addrMessage(a)); err != nil {
		return fmt.Errorf("delete address %s: %w", a, err)
	}
	return nil
}

// hasEndpoint reads the endpoint table once.
func (e *netEnv) hasEndpoint(a netip.Addr) (bool, error) {
	eps, err := e.pm.Endpoints()
	if err != nil {
		return false, err
	}
	for _, ep := range eps {
		if ep.Addr == a {
			return true, nil
		}
	}
	return false, nil
}

// endpoints is the whole table, for error messages.
func (e *netEnv) endpoints() []mptcp.Endpoint {
	eps, _ := e.pm.Endpoints()
	return eps
}

// waitEndpoint polls the endpoint table every `poll` until the endpoint for
// a is present (want true) or absent (want false), and returns how long
// after start that was seen.
func (e *netEnv) waitEndpoint(a netip.Addr, want bool, start time.Time, poll, timeout time.Duration) (time.Duration, error) {
	for {
		has, err := e.hasEndpoint(a)
		if err != nil {
			return 0, err
		}
		if has == want {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			verb := "appear"
			if !want {
				verb = "go"
			}
			return 0, fmt.Errorf("the endpoint for %s did not %s within %v (table: %v)", a, verb, timeout, e.endpoints())
		}
		pause(poll)
	}
}

// pause sleeps for d in the kernel. time.Sleep cannot be used to poll: when
// the process has nothing else to do, the Go scheduler waits for timers in
// epoll with millisecond resolution, so a 50µs sleep becomes about 1ms and
// every latency would be rounded up to it.
func pause(d time.Duration) {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
	}
}

// ip runs iproute2 to build the bench network (the product never does).
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// benchAddr is the i-th address of the bench's private range (10.77.0.0/16),
// never a network or broadcast-looking last octet.
func benchAddr(base byte, i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, base, byte(i / 250 % 256), byte(i%250 + 1)})
}

// mustRoot explains the one precondition early.
func mustRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root: it creates network namespaces and starts daemons in them")
	}
	return nil
}

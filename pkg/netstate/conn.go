package netstate

import (
	"fmt"
	"slices"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"github.com/mptcpd/mptcpd/pkg/netns"
	"golang.org/x/sys/unix"
)

// Conn reads the links and addresses of one network namespace. It is safe
// for concurrent use.
type Conn struct {
	c *netlink.Conn
}

// Dial opens an rtnetlink socket inside ns. The socket stays in ns even if
// ns is closed afterwards.
func Dial(ns netns.NS) (*Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: ns.NetlinkFD()})
	if err != nil {
		return nil, fmt.Errorf("dial rtnetlink: %w", err)
	}
	return &Conn{c: c}, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return c.c.Close() }

// Snapshot returns every link and every IPv4 and IPv6 address of the
// namespace, links sorted by index. Links and addresses are read by
// separate dumps, so a change between them can make the two disagree for a
// moment; a caller that must not miss changes starts a Watcher first and
// takes another Snapshot after each event.
func (c *Conn) Snapshot() (Snapshot, error) {
	var s Snapshot
	// Only names and flags count: leave the counters out of the replies.
	skipStats := uint32(rtextFilterSkipStats)
	msgs, err := c.dump(unix.RTM_GETLINK, &rtnetlink.LinkMessage{Attributes: &rtnetlink.LinkAttributes{ExtMask: &skipStats}}, "links")
	if err != nil {
		return Snapshot{}, err
	}
	s.Links = make([]Link, 0, len(msgs))
	for _, m := range msgs {
		l, err := decodeLink(m.Data)
		if err != nil {
			return Snapshot{}, err
		}
		s.Links = append(s.Links, l)
	}
	slices.SortFunc(s.Links, func(a, b Link) int { return int(a.Index) - int(b.Index) })

	// One dump of every family (one round trip instead of two: the daemon
	// takes a snapshot on every run); decodeAddress leaves out the families
	// that are not IP (MCTP, Phonet).
	msgs, err = c.dump(unix.RTM_GETADDR, &rtnetlink.AddressMessage{Family: unix.AF_UNSPEC}, "addresses")
	if err != nil {
		return Snapshot{}, err
	}
	for _, m := range msgs {
		a, ok, err := decodeAddress(m.Data)
		if err != nil {
			return Snapshot{}, err
		}
		if ok {
			s.Addrs = append(s.Addrs, a)
		}
	}
	return s, nil
}

// rtextFilterSkipStats is RTEXT_FILTER_SKIP_STATS (not in x/sys/unix).
const rtextFilterSkipStats = 1 << 3

// dumpAttempts bounds the retries of a dump that the kernel marks as
// interrupted by a concurrent change.
const dumpAttempts = 5

func (c *Conn) dump(typ netlink.HeaderType, req rtnetlink.Message, what string) ([]netlink.Message, error) {
	data, err := req.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("dump %s: %w", what, err)
	}
	for range dumpAttempts {
		msgs, err := c.c.Execute(netlink.Message{
			Header: netlink.Header{Type: typ, Flags: netlink.Request | netlink.Dump},
			Data:   data,
		})
		if err != nil {
			return nil, fmt.Errorf("dump %s: %w", what, err)
		}
		// NLM_F_DUMP_INTR: the list changed while the kernel walked it, so
		// entries may be missing or doubled.
		if !slices.ContainsFunc(msgs, func(m netlink.Message) bool { return m.Header.Flags&netlink.DumpInterrupted != 0 }) {
			return msgs, nil
		}
	}
	return nil, fmt.Errorf("dump %s: interrupted by concurrent changes %d times in a row", what, dumpAttempts)
}

package netstate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/mptcpd/mptcpd/pkg/netns"
	"golang.org/x/sys/unix"
)

// EventKind says what an Event is about.
type EventKind uint8

// The kinds of events.
const (
	// LinkChanged: a link appeared, changed (up, down, carrier, name) or,
	// with Deleted, went away.
	LinkChanged EventKind = iota + 1
	// AddrChanged: an address was added, changed state (an IPv6 address
	// that finished DAD arrives this way) or, with Deleted, removed.
	AddrChanged
	// Overflow: the kernel dropped events because the socket's buffer was
	// full. Anything may have changed; re-read everything.
	Overflow
)

func (k EventKind) String() string {
	switch k {
	case LinkChanged:
		return "link"
	case AddrChanged:
		return "address"
	case Overflow:
		return "overflow"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one change the kernel announced. It carries enough to log; the
// authoritative state is the next Snapshot.
type Event struct {
	Kind EventKind
	// Deleted is set for RTM_DELLINK and RTM_DELADDR.
	Deleted bool
	// Link is set for LinkChanged: the link as it is now (or was, when
	// deleted).
	Link Link
	// Addr is set for AddrChanged.
	Addr Address
}

func (e Event) String() string {
	verb := "new"
	if e.Deleted {
		verb = "del"
	}
	switch e.Kind {
	case LinkChanged:
		return fmt.Sprintf("link %s %d %s%s", verb, e.Link.Index, e.Link.Name, linkStates(e.Link))
	case AddrChanged:
		return fmt.Sprintf("address %s %s/%d link %d%s", verb, e.Addr.Addr, e.Addr.PrefixLen, e.Addr.IfIndex, addrStates(e.Addr))
	case Overflow:
		return "overflow: the kernel dropped link/address events"
	}
	return e.Kind.String()
}

func linkStates(l Link) string {
	var b strings.Builder
	for _, s := range []struct {
		on   bool
		name string
	}{{l.AdminUp, "up"}, {l.LowerUp, "lower-up"}, {l.Loopback, "loopback"}} {
		if s.on {
			b.WriteString(" " + s.name)
		}
	}
	return b.String()
}

func addrStates(a Address) string {
	var b strings.Builder
	for _, s := range []struct {
		on   bool
		name string
	}{{a.Tentative, "tentative"}, {a.DADFailed, "dadfailed"}, {a.Temporary, "temporary"}, {a.Deprecated, "deprecated"}, {a.Optimistic, "optimistic"}} {
		if s.on {
			b.WriteString(" " + s.name)
		}
	}
	return b.String()
}

// Watcher delivers the link and address events of one namespace.
type Watcher struct {
	events chan Event
	done   chan struct{}
	cancel context.CancelFunc
	err    error // written before done and events are closed
}

// eventBuffer is how many events wait for a slow consumer before the
// watcher stops reading; beyond that the socket buffer fills and the kernel
// reports an overflow, which the consumer handles by re-reading everything.
const eventBuffer = 128

// readBuffer is the socket receive buffer the watcher asks for. The kernel
// charges each queued message its full skb size (about 1 KiB), so this holds
// a few thousand events: enough for a host with many addresses losing a
// link at once.
const readBuffer = 4 << 20

// Watch subscribes to link and address changes (RTNLGRP_LINK,
// RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR) in ns on a socket of its own.
// Events arrive on Events until ctx is done, Close is called, or receiving
// fails. To miss nothing, start watching before taking the first Snapshot.
func Watch(ctx context.Context, ns netns.NS) (*Watcher, error) {
	return watch(ctx, ns, readBuffer)
}

func watch(ctx context.Context, ns netns.NS, bufSize int) (*Watcher, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: ns.NetlinkFD()})
	if err != nil {
		return nil, fmt.Errorf("watch links and addresses: dial rtnetlink: %w", err)
	}
	for _, group := range []uint32{unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR} {
		if err := c.JoinGroup(group); err != nil {
			c.Close()
			return nil, fmt.Errorf("watch links and addresses: join rtnetlink group %d: %w", group, err)
		}
	}
	if err := setReadBuffer(c, bufSize); err != nil {
		c.Close()
		return nil, fmt.Errorf("watch links and addresses: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{
		events: make(chan Event, eventBuffer),
		done:   make(chan struct{}),
		cancel: cancel,
	}
	go w.run(ctx, c)
	return w, nil
}

// setReadBuffer enlarges the socket's receive buffer. SO_RCVBUFFORCE
// passes net.core.rmem_max but needs CAP_NET_ADMIN; without it, SO_RCVBUF
// gets as much as rmem_max allows.
func setReadBuffer(c *netlink.Conn, n int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("set receive buffer: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
	}); err != nil {
		return fmt.Errorf("set receive buffer: %w", err)
	}
	if serr == nil {
		return nil
	}
	if err := c.SetReadBuffer(n); err != nil {
		return fmt.Errorf("set receive buffer: %w", err)
	}
	return nil
}

// Events returns the channel of events. It is closed when the watcher
// stops; Err then says why.
func (w *Watcher) Events() <-chan Event { return w.events }

// Err returns the error that stopped the watcher, or nil if it stopped
// because its context ended or Close was called. It is meaningful once
// Events is closed.
func (w *Watcher) Err() error {
	select {
	case <-w.done:
		return w.err
	default:
		return nil
	}
}

// Close stops the watcher and waits until its socket is closed.
func (w *Watcher) Close() error {
	w.cancel()
	<-w.done
	return nil
}

func (w *Watcher) run(ctx context.Context, c *netlink.Conn) {
	// A read deadline in the past wakes a blocked Receive at once, so
	// cancellation does not wait for the next event.
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	w.err = w.receive(ctx, c)
	stop()
	c.Close()
	// done first: whoever sees Events closed must find Err set.
	close(w.done)
	close(w.events)
}

// receive reads until ctx ends (returning nil) or the socket fails.
func (w *Watcher) receive(ctx context.Context, c *netlink.Conn) error {
	for {
		msgs, err := c.Receive()
		if ctx.Err() != nil {
			return nil
		}
		if isOverflow(err) {
			// The socket stays usable after ENOBUFS; what was lost is
			// recovered by the consumer's re-read.
			if !w.send(ctx, Event{Kind: Overflow}) {
				return nil
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("receive link and address events: %w", err)
		}
		for _, m := range msgs {
			ev, ok := toEvent(m)
			if !ok {
				continue
			}
			if !w.send(ctx, ev) {
				return nil
			}
		}
	}
}

// send delivers ev unless ctx ends first. While the consumer lags, the
// watcher blocks here and the kernel's buffer absorbs (or overflows).
func (w *Watcher) send(ctx context.Context, ev Event) bool {
	select {
	case w.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// isOverflow reports whether a receive failed because the kernel dropped
// messages for lack of buffer space.
func isOverflow(err error) bool { return errors.Is(err, unix.ENOBUFS) }

// toEvent turns one multicast message into an Event. A message that cannot
// be decoded still means something changed, so it becomes an event with
// what could be read rather than being dropped.
func toEvent(m netlink.Message) (Event, bool) {
	switch m.Header.Type {
	case unix.RTM_NEWLINK, unix.RTM_DELLINK:
		l, _ := decodeLink(m.Data)
		return Event{Kind: LinkChanged, Deleted: m.Header.Type == unix.RTM_DELLINK, Link: l}, true
	case unix.RTM_NEWADDR, unix.RTM_DELADDR:
		a, ok, err := decodeAddress(m.Data)
		if err == nil && !ok {
			return Event{}, false
		}
		return Event{Kind: AddrChanged, Deleted: m.Header.Type == unix.RTM_DELADDR, Addr: a}, true
	}
	return Event{}, false
}

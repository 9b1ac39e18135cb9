package ipcmd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/netns"
	"github.com/mptcpd/mptcpd/pkg/pm"
)

// Kernel gives commands the kernel interfaces of one network namespace.
// Session is the real one; tests use fakes.
type Kernel interface {
	// PathManager returns the path manager client, connecting on first use.
	PathManager() (PathManager, error)
	// Links returns the device name resolver, connecting on first use.
	Links() (Links, error)
	// Events opens a new subscription to path manager events; the caller
	// closes it.
	Events() (Events, error)
}

// PathManager is the part of *pm.Client the commands use.
type PathManager interface {
	Endpoints() ([]mptcp.Endpoint, error)
	Endpoint(id uint8) (mptcp.Endpoint, error)
	AddEndpoint(ep mptcp.Endpoint) (mptcp.Endpoint, error)
	DeleteEndpoint(id uint8) error
	CloseInitialSubflows(addr netip.Addr) error
	SetFlags(ep mptcp.Endpoint) error
	Flush() error
	Limits() (mptcp.Limits, error)
	SetLimits(u mptcp.LimitsUpdate) error
}

// Links resolves device names and indexes in the kernel's namespace.
type Links interface {
	// IndexByName returns the index of the device with this name or
	// alternative name, or else the N of a name of the form "ifN" (the
	// form iproute2 prints for an index without a device). ok is false
	// when neither applies.
	IndexByName(name string) (index uint32, ok bool, err error)
	// NameByIndex returns the name of the device, or "ifN" when no device
	// has this index, as iproute2 prints it.
	NameByIndex(index uint32) (string, error)
}

// Events is a subscription to path manager events (*pm.EventStream).
type Events interface {
	Next(ctx context.Context) (pm.Event, error)
	Close() error
}

// Session is the Kernel of one network namespace. It dials each socket
// once, on first use, and keeps it for every command run with it, so a
// batch of commands costs one connection, not one per line. A Session is
// not safe for concurrent use.
type Session struct {
	ns    netns.NS
	pm    *pm.Client
	links *linkResolver
}

// NewSession returns a session for the namespace; it dials nothing yet.
// The caller keeps ns open until the session is closed.
func NewSession(ns netns.NS) *Session { return &Session{ns: ns} }

// PathManager implements Kernel.
func (s *Session) PathManager() (PathManager, error) {
	if s.pm == nil {
		c, err := pm.Dial(pm.WithNetNS(s.ns))
		if err != nil {
			return nil, err
		}
		s.pm = c
	}
	return s.pm, nil
}

// Links implements Kernel.
func (s *Session) Links() (Links, error) {
	if s.links == nil {
		conn, err := rtnetlink.Dial(&netlink.Config{NetNS: s.ns.NetlinkFD(), Strict: true})
		if err != nil {
			return nil, fmt.Errorf("open rtnetlink socket to look up devices: %w", err)
		}
		s.links = &linkResolver{conn: conn, byName: map[string]uint32{}, byIndex: map[uint32]string{}}
	}
	return s.links, nil
}

// Events implements Kernel.
func (s *Session) Events() (Events, error) {
	return pm.DialEvents(pm.WithNetNS(s.ns))
}

// Close closes the sockets the session opened.
func (s *Session) Close() error {
	var errs []error
	if s.pm != nil {
		errs = append(errs, s.pm.Close())
		s.pm = nil
	}
	if s.links != nil {
		errs = append(errs, s.links.conn.Close())
		s.links = nil
	}
	return errors.Join(errs...)
}

// linkResolver asks rtnetlink for one device at a time (by name, which also
// finds alternative names, or by index) and remembers the answers for the
// rest of the session, as iproute2 keeps its link cache for the rest of a
// batch.
type linkResolver struct {
	conn    *rtnetlink.Conn
	byName  map[string]uint32
	byIndex map[uint32]string
}

func (l *linkResolver) IndexByName(name string) (uint32, bool, error) {
	if idx, ok := l.byName[name]; ok {
		return idx, true, nil
	}
	lm, err := l.get(&rtnetlink.LinkMessage{Attributes: &rtnetlink.LinkAttributes{Name: name}})
	if err != nil {
		return 0, false, fmt.Errorf("look up device %q: %w", name, err)
	}
	if lm != nil {
		l.byName[name] = lm.Index
		return lm.Index, true, nil
	}
	if idx, ok := ifIndexFromName(name); ok && idx != 0 {
		return idx, true, nil
	}
	return 0, false, nil
}

func (l *linkResolver) NameByIndex(index uint32) (string, error) {
	if name, ok := l.byIndex[index]; ok {
		return name, nil
	}
	lm, err := l.get(&rtnetlink.LinkMessage{Index: index})
	if err != nil {
		return "", fmt.Errorf("look up device index %d: %w", index, err)
	}
	if lm == nil || l.byIndex[index] == "" {
		l.byIndex[index] = fmt.Sprintf("if%d", index)
	}
	return l.byIndex[index], nil
}

// rtextFilterSkipStats (RTEXT_FILTER_SKIP_STATS, not in x/sys/unix) asks
// the kernel to leave the counters out of the reply: only the name counts.
const rtextFilterSkipStats = 1 << 3

// get sends one RTM_GETLINK (by index, or by name) and returns the device,
// or nil when there is none.
func (l *linkResolver) get(req *rtnetlink.LinkMessage) (*rtnetlink.LinkMessage, error) {
	if req.Attributes == nil {
		req.Attributes = &rtnetlink.LinkAttributes{}
	}
	skipStats := uint32(rtextFilterSkipStats)
	req.Attributes.ExtMask = &skipStats
	msgs, err := l.conn.Execute(req, unix.RTM_GETLINK, netlink.Request)
	if errors.Is(err, unix.ENODEV) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if lm, ok := m.(*rtnetlink.LinkMessage); ok {
			l.remember(lm)
			return lm, nil
		}
	}
	return nil, nil
}

func (l *linkResolver) remember(lm *rtnetlink.LinkMessage) {
	if lm.Attributes == nil || lm.Attributes.Name == "" {
		return
	}
	l.byIndex[lm.Index] = lm.Attributes.Name
	l.byName[lm.Attributes.Name] = lm.Index
}

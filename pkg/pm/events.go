package pm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// EventType is the kind of a path manager event (MPTCP_EVENT_*).
type EventType uint8

// The event types the kernel sends on the mptcp_pm_events group.
const (
	EventCreated         EventType = 1
	EventEstablished     EventType = 2
	EventClosed          EventType = 3
	EventAnnounced       EventType = 6
	EventRemoved         EventType = 7
	EventSubEstablished  EventType = 10
	EventSubClosed       EventType = 11
	EventSubPriority     EventType = 13
	EventListenerCreated EventType = 15
	EventListenerClosed  EventType = 16
)

// eventNames are the names `ip mptcp monitor` prints.
var eventNames = map[EventType]string{
	EventCreated:         "CREATED",
	EventEstablished:     "ESTABLISHED",
	EventClosed:          "CLOSED",
	EventAnnounced:       "ANNOUNCED",
	EventRemoved:         "REMOVED",
	EventSubEstablished:  "SF_ESTABLISHED",
	EventSubClosed:       "SF_CLOSED",
	EventSubPriority:     "SF_PRIO",
	EventListenerCreated: "LISTENER_CREATED",
	EventListenerClosed:  "LISTENER_CLOSED",
}

func (t EventType) String() string {
	if n, ok := t.Name(); ok {
		return n
	}
	return fmt.Sprintf("UNKNOWN(%d)", uint8(t))
}

// Name is the name `ip mptcp monitor` prints for the event type, and false
// for a type this package does not know.
func (t EventType) Name() (string, bool) {
	n, ok := eventNames[t]
	return n, ok
}

// Event is one path manager event. Which fields are set depends on the
// type; Has tells whether the kernel sent an attribute.
type Event struct {
	Type  EventType
	Token uint32
	// Family is the address family the kernel reported (unix.AF_INET or
	// AF_INET6); addresses themselves are always unmapped.
	Family      uint16
	LocalID     uint8
	RemoteID    uint8
	Saddr       netip.Addr
	Daddr       netip.Addr
	Sport       uint16
	Dport       uint16
	Backup      uint8
	Error       uint8
	Flags       uint16
	Timeout     uint32
	IfIndex     int32
	ResetReason uint32
	ResetFlags  uint32
	ServerSide  bool

	present uint32 // bit n set: attribute n was in the message
}

// Has reports whether the event carried the MPTCP_ATTR_* attribute attr
// (EvToken .. EvServerSide).
func (e Event) Has(attr EventAttr) bool { return e.present&(1<<attr) != 0 }

// EventAttr names an event attribute, for Event.Has.
type EventAttr uint8

// Event attributes, for Event.Has.
const (
	EvToken       EventAttr = evAttrToken
	EvFamily      EventAttr = evAttrFamily
	EvLocalID     EventAttr = evAttrLocID
	EvRemoteID    EventAttr = evAttrRemID
	EvSaddr       EventAttr = evAttrSaddr4 // either family
	EvDaddr       EventAttr = evAttrDaddr4 // either family
	EvSport       EventAttr = evAttrSport
	EvDport       EventAttr = evAttrDport
	EvBackup      EventAttr = evAttrBackup
	EvError       EventAttr = evAttrError
	EvFlags       EventAttr = evAttrFlags
	EvTimeout     EventAttr = evAttrTimeout
	EvIfIndex     EventAttr = evAttrIfIdx
	EvResetReason EventAttr = evAttrResetReason
	EvResetFlags  EventAttr = evAttrResetFlags
	EvServerSide  EventAttr = evAttrServerSide
)

// ErrEventsLost is returned by Next when the kernel dropped events because
// the socket's buffer was full. The stream stays usable.
var ErrEventsLost = errors.New("MPTCP events were lost: the event socket's buffer overflowed")

// EventStream receives path manager events on its own socket, so that
// events never interleave with request replies.
type EventStream struct {
	conn    *genetlink.Conn
	pending []Event
}

// DialEvents opens a socket subscribed to the mptcp_pm_events group. It
// needs CAP_NET_ADMIN (ErrPermission otherwise).
func DialEvents(opts ...Option) (*EventStream, error) {
	conn, err := dialConn(opts)
	if err != nil {
		return nil, err
	}
	s, err := newEventStream(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

func newEventStream(conn *genetlink.Conn) (*EventStream, error) {
	family, err := resolveFamily(conn)
	if err != nil {
		return nil, err
	}
	for _, g := range family.Groups {
		if g.Name != eventsGroup {
			continue
		}
		if err := conn.JoinGroup(g.ID); err != nil {
			return nil, wrap("join "+eventsGroup, err)
		}
		// Bursts (many connections at once) should not overflow the
		// default buffer; a failure here only costs headroom.
		setReadBuffer(conn, 1<<20)
		return &EventStream{conn: conn}, nil
	}
	return nil, &Error{Op: "join " + eventsGroup, Err: errors.New("the kernel's mptcp_pm family has no events group")}
}

// Close closes the socket; a blocked Next returns.
func (s *EventStream) Close() error { return s.conn.Close() }

// Next waits for the next event. It returns ctx.Err() once ctx is done (after
// the events already read) and ErrEventsLost when the kernel dropped events.
// Events it cannot decode are skipped.
func (s *EventStream) Next(ctx context.Context) (Event, error) {
	for len(s.pending) == 0 {
		if err := s.receive(ctx); err != nil {
			return Event{}, err
		}
	}
	ev := s.pending[0]
	s.pending = s.pending[1:]
	return ev, nil
}

func (s *EventStream) receive(ctx context.Context) error {
	// A past deadline unblocks a read in progress: that is how ctx
	// cancellation reaches the socket. Clear one left by an earlier call.
	if err := s.conn.SetReadDeadline(time.Time{}); err != nil {
		return wrap("receive events", err)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		_ = s.conn.SetReadDeadline(time.Unix(1, 0))
	})
	msgs, _, err := s.conn.Receive()
	if !stop() {
		// The deadline is being set: let it land now, not after the next
		// call has cleared it (which would fail that call at once).
		<-fired
	}
	for _, m := range msgs {
		// An event this package cannot decode (an attribute of a newer
		// kernel, say) is skipped: it must not end the stream or take the
		// events read with it down too.
		if ev, derr := decodeEvent(m); derr == nil {
			s.pending = append(s.pending, ev)
		}
	}
	if len(s.pending) > 0 {
		return nil // events read before a cancellation are still delivered
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		if errors.Is(err, unix.ENOBUFS) {
			return ErrEventsLost
		}
		return wrap("receive events", err)
	}
	return nil
}

// setReadBuffer enlarges the socket's receive buffer: beyond rmem_max when
// privileged (SO_RCVBUFFORCE), else as far as rmem_max allows.
func setReadBuffer(conn *genetlink.Conn, bytes int) {
	raw, err := conn.SyscallConn()
	if err == nil {
		var serr error
		err = raw.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bytes)
		})
		if err == nil && serr == nil {
			return
		}
	}
	_ = conn.SetReadBuffer(bytes)
}

func decodeEvent(m genetlink.Message) (Event, error) {
	ev := Event{Type: EventType(m.Header.Command)}
	ad, err := netlink.NewAttributeDecoder(m.Data)
	if err != nil {
		return ev, err
	}
	for ad.Next() {
		t := ad.Type()
		if t < 32 {
			ev.present |= 1 << t
		}
		switch t {
		case evAttrToken:
			ev.Token = ad.Uint32()
		case evAttrFamily:
			ev.Family = ad.Uint16()
		case evAttrLocID:
			ev.LocalID = ad.Uint8()
		case evAttrRemID:
			ev.RemoteID = ad.Uint8()
		case evAttrSaddr4, evAttrSaddr6:
			ev.Saddr = decodeEventAddr(ad)
			ev.present |= 1 << evAttrSaddr4
		case evAttrDaddr4, evAttrDaddr6:
			ev.Daddr = decodeEventAddr(ad)
			ev.present |= 1 << evAttrDaddr4
		case evAttrSport:
			ev.Sport = decodeBE16(ad)
		case evAttrDport:
			ev.Dport = decodeBE16(ad)
		case evAttrBackup:
			ev.Backup = ad.Uint8()
		case evAttrError:
			ev.Error = ad.Uint8()
		case evAttrFlags:
			ev.Flags = ad.Uint16()
		case evAttrTimeout:
			ev.Timeout = ad.Uint32()
		case evAttrIfIdx:
			ev.IfIndex = ad.Int32()
		case evAttrResetReason:
			ev.ResetReason = ad.Uint32()
		case evAttrResetFlags:
			ev.ResetFlags = ad.Uint32()
		case evAttrServerSide:
			ev.ServerSide = ad.Uint8() != 0
		}
	}
	if err := ad.Err(); err != nil {
		return ev, fmt.Errorf("event %v: %w", ev.Type, err)
	}
	return ev, nil
}

// decodeEventAddr unmaps addresses: a dual-stack listener reports IPv4
// peers as ::ffff:a.b.c.d.
func decodeEventAddr(ad *netlink.AttributeDecoder) netip.Addr {
	addr, _ := netip.AddrFromSlice(ad.Bytes())
	return addr.Unmap()
}

// decodeBE16 reads an event port, which the kernel sends in network byte
// order (unlike the endpoint port attribute).
func decodeBE16(ad *netlink.AttributeDecoder) uint16 {
	var v uint16
	ad.Do(func(b []byte) error {
		if len(b) != 2 {
			return fmt.Errorf("port attribute of %d bytes", len(b))
		}
		v = binary.BigEndian.Uint16(b)
		return nil
	})
	return v
}

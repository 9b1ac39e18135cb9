package pm

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/netns"
)

// Option configures Dial and DialEvents.
type Option func(*options)

type options struct {
	ns netns.NS
	// open, when set, opens the namespace at dial time (and the dial
	// closes it again).
	open func() (netns.NS, error)
}

// WithNetNS makes the client talk to the path manager of another network
// namespace. The socket is opened inside it, so ns may be closed once Dial
// has returned.
func WithNetNS(ns netns.NS) Option {
	return func(o *options) { o.ns, o.open = ns, nil }
}

// WithNetNSName is WithNetNS for a namespace named as `ip netns` names it
// (a name under /run/netns) or by the path of a namespace file.
func WithNetNSName(nameOrPath string) Option {
	return func(o *options) { o.open = func() (netns.NS, error) { return netns.Open(nameOrPath) } }
}

// WithNetNSFD is WithNetNS for an open namespace file descriptor, which
// the caller keeps open and closes.
func WithNetNSFD(fd int) Option {
	return func(o *options) { o.open = func() (netns.NS, error) { return netns.FromFD(fd) } }
}

// Client talks to the in-kernel path manager of one network namespace over
// one generic netlink socket. Its methods are safe for concurrent use (the
// socket serialises requests).
type Client struct {
	conn   *genetlink.Conn
	family genetlink.Family
}

// Dial opens a socket to the mptcp_pm family. It reports ErrNotSupported when
// the kernel has no MPTCP.
func Dial(opts ...Option) (*Client, error) {
	conn, err := dialConn(opts)
	if err != nil {
		return nil, err
	}
	c, err := newClient(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func dialConn(opts []Option) (*genetlink.Conn, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.open != nil {
		ns, err := o.open()
		if err != nil {
			return nil, err
		}
		defer ns.Close()
		o.ns = ns
	}
	// Strict asks for extended acks, so errors carry the kernel's text.
	conn, err := genetlink.Dial(&netlink.Config{NetNS: o.ns.NetlinkFD(), Strict: true})
	if err != nil {
		return nil, fmt.Errorf("open generic netlink socket: %w", err)
	}
	return conn, nil
}

// newClient resolves the family on an open connection (also used by tests
// with a fake connection).
func newClient(conn *genetlink.Conn) (*Client, error) {
	family, err := resolveFamily(conn)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, family: family}, nil
}

func resolveFamily(conn *genetlink.Conn) (genetlink.Family, error) {
	family, err := conn.GetFamily(familyName)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) {
		return genetlink.Family{}, ErrNotSupported
	}
	if err != nil {
		return genetlink.Family{}, wrap("resolve generic netlink family "+familyName, err)
	}
	return family, nil
}

// Close closes the socket.
func (c *Client) Close() error { return c.conn.Close() }

// execute sends one request and returns the replies. It is the only place
// that talks to the socket, so header flags and error mapping are decided
// once: gets use Request (a get with Acknowledge leaves a second message,
// the ACK, behind to poison the next request), dumps Request|Dump, writes
// Request|Acknowledge.
func (c *Client) execute(op string, cmd uint8, flags netlink.HeaderFlags, attrs []byte) ([]genetlink.Message, error) {
	msg := genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: familyVersion},
		Data:   attrs,
	}
	msgs, err := c.conn.Execute(msg, c.family.ID, netlink.Request|flags)
	if err != nil {
		return nil, wrap(op, err)
	}
	return msgs, nil
}

// wrap turns a netlink failure into an *Error that keeps the errno and the
// kernel's extended-ack message.
func wrap(op string, err error) error {
	var opErr *netlink.OpError
	if errors.As(err, &opErr) {
		inner := opErr.Err
		var sysErr *os.SyscallError
		if errors.As(inner, &sysErr) {
			inner = sysErr.Err
		}
		return &Error{Op: op, Err: inner, Message: opErr.Message}
	}
	return &Error{Op: op, Err: err}
}

// Endpoints returns every endpoint of the namespace, sorted by id.
func (c *Client) Endpoints() ([]mptcp.Endpoint, error) {
	msgs, err := c.execute("list endpoints", cmdGetAddr, netlink.Dump, nil)
	if err != nil {
		return nil, err
	}
	eps := make([]mptcp.Endpoint, 0, len(msgs))
	for _, m := range msgs {
		ep, err := decodeAddrReply(m.Data)
		if err != nil {
			return nil, &Error{Op: "list endpoints", Err: err}
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// Endpoint returns the endpoint with the given id. An unknown id is an
// *Error wrapping unix.EINVAL, as the kernel reports it.
func (c *Client) Endpoint(id uint8) (mptcp.Endpoint, error) {
	op := fmt.Sprintf("get endpoint id %d", id)
	attrs, err := encodeAddr(mptcp.Endpoint{ID: id}, false)
	if err != nil {
		return mptcp.Endpoint{}, &Error{Op: op, Err: err}
	}
	msgs, err := c.execute(op, cmdGetAddr, 0, attrs)
	if err != nil {
		return mptcp.Endpoint{}, err
	}
	if len(msgs) != 1 {
		return mptcp.Endpoint{}, &Error{Op: op, Err: fmt.Errorf("kernel sent %d replies, want 1", len(msgs))}
	}
	ep, err := decodeAddrReply(msgs[0].Data)
	if err != nil {
		return mptcp.Endpoint{}, &Error{Op: op, Err: err}
	}
	return ep, nil
}

// AddEndpoint adds an endpoint and returns it as the kernel stored it: with
// the id it allocated when ep.ID is 0, and the flags it kept (unknown bits
// are dropped silently). ep.Addr must be valid; an IPv4-mapped IPv6 address
// is sent as IPv4, since the kernel treats both as the same.
func (c *Client) AddEndpoint(ep mptcp.Endpoint) (mptcp.Endpoint, error) {
	ep.Addr = ep.Addr.Unmap()
	op := "add endpoint " + ep.String()
	if !ep.Addr.IsValid() {
		return mptcp.Endpoint{}, &Error{Op: op, Err: errors.New("no address")}
	}
	attrs, err := encodeAddr(ep, true)
	if err != nil {
		return mptcp.Endpoint{}, &Error{Op: op, Err: err}
	}
	if _, err := c.execute(op, cmdAddAddr, netlink.Acknowledge, attrs); err != nil {
		return mptcp.Endpoint{}, err
	}
	// ADD_ADDR has no reply: read the endpoint back to learn its id. If
	// that fails, the endpoint exists all the same: return what was asked
	// for with an error that says so (mptcp.ErrAddedNotReadBack).
	got, err := c.readBack(ep)
	if err != nil {
		return ep, &Error{Op: op, Err: fmt.Errorf("%w: %v", mptcp.ErrAddedNotReadBack, err)}
	}
	return got, nil
}

func (c *Client) readBack(ep mptcp.Endpoint) (mptcp.Endpoint, error) {
	if ep.ID != 0 {
		return c.Endpoint(ep.ID)
	}
	eps, err := c.Endpoints()
	if err != nil {
		return mptcp.Endpoint{}, err
	}
	for _, got := range eps {
		if got.Addr == ep.Addr && got.Port == ep.Port {
			return got, nil
		}
	}
	return mptcp.Endpoint{}, errors.New("not found (removed by someone else meanwhile?)")
}

// DeleteEndpoint deletes the endpoint with the given id. The kernel closes
// every live subflow that uses it and announces the removal to peers.
// Id 0 is refused with ErrIDZero (see CloseInitialSubflows).
func (c *Client) DeleteEndpoint(id uint8) error {
	op := fmt.Sprintf("delete endpoint id %d", id)
	if id == 0 {
		return &Error{Op: op, Err: ErrIDZero}
	}
	attrs, err := encodeAddr(mptcp.Endpoint{ID: id}, false)
	if err != nil {
		return &Error{Op: op, Err: err}
	}
	_, err = c.execute(op, cmdDelAddr, netlink.Acknowledge, attrs)
	return err
}

// CloseInitialSubflows asks the kernel to stop using addr as the initial
// (id 0) address of live connections, which closes those subflows. It
// deletes no endpoint; it is what `ip mptcp endpoint delete id 0 ADDR` does.
func (c *Client) CloseInitialSubflows(addr netip.Addr) error {
	addr = addr.Unmap()
	op := "delete id 0 " + addr.String()
	if !addr.IsValid() {
		return &Error{Op: op, Err: errors.New("no address")}
	}
	attrs, err := encodeAddr(mptcp.Endpoint{Addr: addr}, true)
	if err != nil {
		return &Error{Op: op, Err: err}
	}
	_, err = c.execute(op, cmdDelAddr, netlink.Acknowledge, attrs)
	return err
}

// SetFlags changes the backup and fullmesh flags of an endpoint in place,
// without closing its subflows. The endpoint is found by address (and port)
// when ep.Addr is valid, else by ep.ID. Only the backup and fullmesh bits of
// ep.Flags count, and both are always sent: the kernel clears any the
// request leaves out.
func (c *Client) SetFlags(ep mptcp.Endpoint) error {
	ep.Addr = ep.Addr.Unmap()
	target := fmt.Sprintf("id %d", ep.ID)
	if ep.Addr.IsValid() {
		target = ep.Addr.String()
		if ep.Port != 0 {
			target += fmt.Sprintf(" port %d", ep.Port)
		}
	}
	op := fmt.Sprintf("set flags of endpoint %s to %q", target, (ep.Flags & mptcp.MutableFlags).String())
	if !ep.Addr.IsValid() && ep.ID == 0 {
		return &Error{Op: op, Err: errors.New("no address and no id to find the endpoint by")}
	}
	req := mptcp.Endpoint{ID: ep.ID, Addr: ep.Addr, Port: ep.Port, Flags: ep.Flags & mptcp.MutableFlags}
	attrs, err := encodeSetFlags(req)
	if err != nil {
		return &Error{Op: op, Err: err}
	}
	_, err = c.execute(op, cmdSetFlags, netlink.Acknowledge, attrs)
	return err
}

// Flush deletes every endpoint, closing every subflow that used one, and
// resets the kernel's id allocator.
func (c *Client) Flush() error {
	_, err := c.execute("flush endpoints", cmdFlushAddrs, netlink.Acknowledge, nil)
	return err
}

// Limits returns the namespace's limits.
func (c *Client) Limits() (mptcp.Limits, error) {
	const op = "get limits"
	msgs, err := c.execute(op, cmdGetLimits, 0, nil)
	if err != nil {
		return mptcp.Limits{}, err
	}
	if len(msgs) != 1 {
		return mptcp.Limits{}, &Error{Op: op, Err: fmt.Errorf("kernel sent %d replies, want 1", len(msgs))}
	}
	l, err := decodeLimits(msgs[0].Data)
	if err != nil {
		return mptcp.Limits{}, &Error{Op: op, Err: err}
	}
	return l, nil
}

// SetLimits sets either limit or both, all or nothing. Values above
// mptcp.MaxLimit are refused by the kernel with EINVAL.
func (c *Client) SetLimits(u mptcp.LimitsUpdate) error {
	op := "set limits"
	ae := netlink.NewAttributeEncoder()
	if u.AddAddrAccepted != nil {
		op += fmt.Sprintf(" add_addr_accepted %d", *u.AddAddrAccepted)
		ae.Uint32(attrRcvAddAddrs, *u.AddAddrAccepted)
	}
	if u.Subflows != nil {
		op += fmt.Sprintf(" subflows %d", *u.Subflows)
		ae.Uint32(attrSubflows, *u.Subflows)
	}
	attrs, err := ae.Encode()
	if err != nil {
		return &Error{Op: op, Err: err}
	}
	_, err = c.execute(op, cmdSetLimits, netlink.Acknowledge, attrs)
	return err
}

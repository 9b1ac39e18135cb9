package pm

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
)

const testFamilyID = 0x23

var testFamily = genetlink.Family{
	ID:      testFamilyID,
	Name:    familyName,
	Version: familyVersion,
	Groups:  []genetlink.MulticastGroup{{ID: 7, Name: eventsGroup}},
}

// request is one request as the fake kernel saw it.
type request struct {
	Command uint8
	Flags   netlink.HeaderFlags
	Attrs   map[uint16]any // top-level attributes; the ADDR nest as map[uint16]any
}

// fakeConn returns a client whose requests are recorded and answered by
// reply (nil reply: an empty answer).
func fakeConn(t *testing.T, reply func(r request) ([]genetlink.Message, error)) (*Client, *[]request) {
	t.Helper()
	var seen []request
	conn := genltest.Dial(genltest.ServeFamily(testFamily, func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		if nreq.Header.Type == 0 && len(greq.Data) == 0 {
			return nil, nil // a read with no request pending
		}
		if nreq.Header.Type != testFamilyID {
			t.Errorf("request to family %d, want %d", nreq.Header.Type, testFamilyID)
		}
		if greq.Header.Version != familyVersion {
			t.Errorf("request version %d, want %d", greq.Header.Version, familyVersion)
		}
		r := request{Command: greq.Header.Command, Flags: nreq.Header.Flags, Attrs: decodeAttrs(t, greq.Data)}
		seen = append(seen, r)
		if reply == nil {
			return nil, nil
		}
		return reply(r)
	}))
	c, err := newClient(conn)
	if err != nil {
		t.Fatalf("newClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, &seen
}

// decodeAttrs turns top-level attributes into a comparable map: the ADDR
// nest as a map of its own, the limits as u32.
func decodeAttrs(t *testing.T, b []byte) map[uint16]any {
	t.Helper()
	out := map[uint16]any{}
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		t.Fatalf("decode attributes: %v", err)
	}
	for ad.Next() {
		switch ad.Type() {
		case attrAddr:
			if ad.TypeFlags()&netlink.Nested == 0 {
				t.Errorf("ADDR attribute without NLA_F_NESTED: the kernel's strict validation rejects it")
			}
			out[attrAddr] = decodeAddrAttrs(t, ad.Bytes())
		case attrRcvAddAddrs, attrSubflows:
			out[ad.Type()] = ad.Uint32()
		default:
			t.Errorf("unexpected top-level attribute %d", ad.Type())
		}
	}
	if err := ad.Err(); err != nil {
		t.Fatalf("decode attributes: %v", err)
	}
	return out
}

func decodeAddrAttrs(t *testing.T, b []byte) map[uint16]any {
	t.Helper()
	out := map[uint16]any{}
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		t.Fatalf("decode address attributes: %v", err)
	}
	for ad.Next() {
		switch ad.Type() {
		case addrAttrFamily, addrAttrPort:
			out[ad.Type()] = ad.Uint16()
		case addrAttrID:
			out[ad.Type()] = ad.Uint8()
		case addrAttrFlags, addrAttrIfIdx:
			out[ad.Type()] = ad.Uint32()
		case addrAttrAddr4, addrAttrAddr6:
			a, ok := netip.AddrFromSlice(ad.Bytes())
			if !ok || (ad.Type() == addrAttrAddr4) != a.Is4() {
				t.Fatalf("address attribute %d of %d bytes", ad.Type(), ad.Len())
			}
			out[ad.Type()] = a
		default:
			t.Errorf("unexpected address attribute %d", ad.Type())
		}
	}
	if err := ad.Err(); err != nil {
		t.Fatalf("decode address attributes: %v", err)
	}
	return out
}

// endpointReply encodes an endpoint the way the kernel's GET_ADDR reply does:
// PORT always present, IF_IDX only when non-zero.
func endpointReply(t *testing.T, ep mptcp.Endpoint) genetlink.Message {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.Nested(attrAddr, func(nae *netlink.AttributeEncoder) error {
		if ep.Addr.Is4() {
			nae.Uint16(addrAttrFamily, unix.AF_INET)
			b := ep.Addr.As4()
			nae.Bytes(addrAttrAddr4, b[:])
		} else {
			nae.Uint16(addrAttrFamily, unix.AF_INET6)
			b := ep.Addr.As16()
			nae.Bytes(addrAttrAddr6, b[:])
		}
		nae.Uint8(addrAttrID, ep.ID)
		nae.Uint16(addrAttrPort, ep.Port)
		nae.Uint32(addrAttrFlags, uint32(ep.Flags))
		if ep.IfIndex != 0 {
			nae.Int32(addrAttrIfIdx, ep.IfIndex)
		}
		return nil
	})
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return genetlink.Message{Header: genetlink.Header{Command: cmdGetAddr, Version: familyVersion}, Data: b}
}

func TestEndpointsDump(t *testing.T) {
	want := []mptcp.Endpoint{
		{ID: 1, Addr: netip.MustParseAddr("192.0.2.1"), Flags: mptcp.FlagSubflow | mptcp.FlagBackup, IfIndex: 3},
		{ID: 2, Addr: netip.MustParseAddr("2001:db8::1"), Port: 8080, Flags: mptcp.FlagSignal},
		{ID: 9, Addr: netip.MustParseAddr("198.51.100.7"), Flags: mptcp.FlagImplicit | 0x40},
	}
	c, seen := fakeConn(t, func(r request) ([]genetlink.Message, error) {
		var msgs []genetlink.Message
		for _, ep := range want {
			msgs = append(msgs, endpointReply(t, ep))
		}
		return msgs, nil
	})
	got, err := c.Endpoints()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Endpoints (-want +got):\n%s", diff)
	}
	wantReq := []request{{Command: cmdGetAddr, Flags: netlink.Request | netlink.Dump, Attrs: map[uint16]any{}}}
	if diff := cmp.Diff(wantReq, *seen, addrCmp); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// TestRequests checks the command, header flags and attributes of every
// request: gets carry no ACK flag, writes do, and each sends exactly what the
// kernel needs.
func TestRequests(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.1")
	v6 := netip.MustParseAddr("2001:db8::1")
	mapped := netip.MustParseAddr("::ffff:192.0.2.1")
	three, nine := uint32(3), uint32(9)
	stored := mptcp.Endpoint{ID: 5, Addr: v4, Flags: mptcp.FlagSubflow}

	tests := []struct {
		name string
		call func(c *Client) error
		want []request
	}{
		{
			name: "get by id: no ACK, id only",
			call: func(c *Client) error { _, err := c.Endpoint(5); return err },
			want: []request{{Command: cmdGetAddr, Flags: netlink.Request, Attrs: map[uint16]any{attrAddr: map[uint16]any{addrAttrID: uint8(5)}}}},
		},
		{
			name: "add with id: family, address, id, port, flags, ifindex, then read back by id",
			call: func(c *Client) error {
				_, err := c.AddEndpoint(mptcp.Endpoint{ID: 5, Addr: v4, Port: 0x1234, Flags: mptcp.FlagSignal, IfIndex: 4})
				return err
			},
			want: []request{
				{Command: cmdAddAddr, Flags: netlink.Request | netlink.Acknowledge, Attrs: map[uint16]any{attrAddr: map[uint16]any{
					addrAttrFamily: uint16(unix.AF_INET), addrAttrAddr4: v4, addrAttrID: uint8(5),
					addrAttrPort: uint16(0x1234), addrAttrFlags: uint32(mptcp.FlagSignal), addrAttrIfIdx: uint32(4),
				}}},
				{Command: cmdGetAddr, Flags: netlink.Request, Attrs: map[uint16]any{attrAddr: map[uint16]any{addrAttrID: uint8(5)}}},
			},
		},
		{
			name: "add IPv4-mapped without id: sent as IPv4, read back by dump",
			call: func(c *Client) error {
				_, err := c.AddEndpoint(mptcp.Endpoint{Addr: mapped, Flags: mptcp.FlagSubflow})
				return err
			},
			want: []request{
				{Command: cmdAddAddr, Flags: netlink.Request | netlink.Acknowledge, Attrs: map[uint16]any{attrAddr: map[uint16]any{
					addrAttrFamily: uint16(unix.AF_INET), addrAttrAddr4: v4, addrAttrFlags: uint32(mptcp.FlagSubflow),
				}}},
				{Command: cmdGetAddr, Flags: netlink.Request | netlink.Dump, Attrs: map[uint16]any{}},
			},
		},
		{
			name: "delete: id only",
			call: func(c *Client) error { return c.DeleteEndpoint(5) },
			want: []request{{Command: cmdDelAddr, Flags: netlink.Request | netlink.Acknowledge, Attrs: map[uint16]any{attrAddr: map[uint16]any{addrAttrID: uint8(5)}}}},
		},
		{
			name: "close initial subflows: id 0 with the address",
			call: func(c *Client) error { return c.CloseInitialSubflows(v6) },
			want: []request{{Command: cmdDelAddr, Flags: netlink.Request | netlink.Acknowledge, Attrs: map[uint16]any{attrAddr: map[uint16]any{
				addrAttrFamily: uint16(unix.AF_INET6), addrAttrAddr6: v6,
			}}}},
		},
		{
			name: "set flags by address: FLAGS present even when clearing, other bits dropped",
			call: func(c *Client) error {
				return c.SetFlags(mptcp.Endpoint{ID: 5, Addr: v6, Flags: mptcp.FlagSignal | mptcp.FlagSubflow | mptcp.FlagLaminar})
			},
			want: []request{{Command: cmdSetFlags, Flags: netlink.Request | netlink.Acknowledge, Attrs: map[uint16]any{attrAddr: map[uint16]any{
				addrAttrFamily: uint16(unix.AF_INET6), addrAttrAddr6: v6, addrAttrID: uint8(5), addrAttrFlags: uint32(0),
			}}}},
		},
		{
			name: "set flags by id with port-less lookup: no family",
			call: func(c *Client) error {
				return c.SetFlags(mptcp.Endpoint{ID: 7, Flags: mptcp.FlagBackup | mptcp.FlagFullmesh})
			},
			want: []request{{Command: cmdSetFlags, Flags: netlink.Request | netlink.Acknowledge, Attrs: map[uint16]any{attrAddr: map[uint16]any{
				addrAttrID: uint8(7), addrAttrFlags: uint32(mptcp.FlagBackup | mptcp.FlagFullmesh),
			}}}},
		},
		{
			name: "set flags of a signal endpoint with a port: port sent for the lookup",
			call: func(c *Client) error { return c.SetFlags(mptcp.Endpoint{Addr: v4, Port: 80, Flags: mptcp.FlagBackup}) },
			want: []request{{Command: cmdSetFlags, Flags: netlink.Request | netlink.Acknowledge, Attrs: map[uint16]any{attrAddr: map[uint16]any{
				addrAttrFamily: uint16(unix.AF_INET), addrAttrAddr4: v4, addrAttrPort: uint16(80), addrAttrFlags: uint32(mptcp.FlagBackup),
			}}}},
		},
		{
			name: "flush",
			call: func(c *Client) error { return c.Flush() },
			want: []request{{Command: cmdFlushAddrs, Flags: netlink.Request | netlink.Acknowledge, Attrs: map[uint16]any{}}},
		},
		{
			name: "get limits: no ACK",
			call: func(c *Client) error { _, err := c.Limits(); return err },
			want: []request{{Command: cmdGetLimits, Flags: netlink.Request, Attrs: map[uint16]any{}}},
		},
		{
			name: "set one limit",
			call: func(c *Client) error { return c.SetLimits(mptcp.LimitsUpdate{Subflows: &three}) },
			want: []request{{Command: cmdSetLimits, Flags: netlink.Request | netlink.Acknowledge, Attrs: map[uint16]any{attrSubflows: uint32(3)}}},
		},
		{
			name: "set both limits",
			call: func(c *Client) error {
				return c.SetLimits(mptcp.LimitsUpdate{Subflows: &three, AddAddrAccepted: &nine})
			},
			want: []request{{Command: cmdSetLimits, Flags: netlink.Request | netlink.Acknowledge, Attrs: map[uint16]any{attrSubflows: uint32(3), attrRcvAddAddrs: uint32(9)}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, seen := fakeConn(t, func(r request) ([]genetlink.Message, error) {
				switch {
				case r.Command == cmdGetAddr:
					return []genetlink.Message{endpointReply(t, stored), endpointReply(t, mptcp.Endpoint{ID: 6, Addr: v4, Flags: mptcp.FlagSubflow})}[:1+boolInt(r.Flags&netlink.Dump != 0)], nil
				case r.Command == cmdGetLimits:
					return []genetlink.Message{{Data: mustEncode(t, func(ae *netlink.AttributeEncoder) {
						ae.Uint32(attrRcvAddAddrs, 1)
						ae.Uint32(attrSubflows, 2)
					})}}, nil
				}
				return nil, nil
			})
			if err := tt.call(c); err != nil {
				t.Fatalf("call: %v", err)
			}
			if diff := cmp.Diff(tt.want, *seen, addrCmp); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mustEncode(t *testing.T, fn func(ae *netlink.AttributeEncoder)) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	fn(ae)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAddReturnsStored(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.1")
	// The kernel allocated id 4 and dropped an unknown flag bit.
	c, _ := fakeConn(t, func(r request) ([]genetlink.Message, error) {
		if r.Command == cmdGetAddr {
			return []genetlink.Message{
				endpointReply(t, mptcp.Endpoint{ID: 3, Addr: netip.MustParseAddr("192.0.2.9"), Flags: mptcp.FlagSignal}),
				endpointReply(t, mptcp.Endpoint{ID: 4, Addr: v4, Flags: mptcp.FlagSubflow}),
			}, nil
		}
		return nil, nil
	})
	got, err := c.AddEndpoint(mptcp.Endpoint{Addr: v4, Flags: mptcp.FlagSubflow | 0x100})
	if err != nil {
		t.Fatal(err)
	}
	want := mptcp.Endpoint{ID: 4, Addr: v4, Flags: mptcp.FlagSubflow}
	if diff := cmp.Diff(want, got, addrCmp); diff != "" {
		t.Errorf("AddEndpoint (-want +got):\n%s", diff)
	}
}

func TestDeleteIDZeroRefused(t *testing.T) {
	c, seen := fakeConn(t, nil)
	err := c.DeleteEndpoint(0)
	if !errors.Is(err, ErrIDZero) {
		t.Fatalf("DeleteEndpoint(0) = %v, want ErrIDZero", err)
	}
	if len(*seen) != 0 {
		t.Errorf("DeleteEndpoint(0) sent %d requests, want none", len(*seen))
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		errno unix.Errno
		is    []error
	}{
		{unix.EEXIST, []error{unix.EEXIST}},
		{unix.EBUSY, []error{unix.EBUSY}},
		{unix.ERANGE, []error{unix.ERANGE}},
		{unix.EPERM, []error{unix.EPERM, ErrPermission}},
	}
	for _, tt := range tests {
		t.Run(tt.errno.Error(), func(t *testing.T) {
			c, _ := fakeConn(t, func(request) ([]genetlink.Message, error) { return nil, genltest.Error(int(tt.errno)) })
			_, err := c.AddEndpoint(mptcp.Endpoint{Addr: netip.MustParseAddr("192.0.2.1")})
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *pm.Error", err, err)
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false", err, target)
				}
			}
			if tt.errno != unix.EPERM && errors.Is(err, ErrPermission) {
				t.Errorf("%v matches ErrPermission", err)
			}
		})
	}
}

func TestNoFamily(t *testing.T) {
	conn := genltest.Dial(func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.ENOENT))
	})
	defer conn.Close()
	_, err := newClient(conn)
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("newClient without the family = %v, want ErrNotSupported", err)
	}
}

// TestAddNotReadBack: the kernel acknowledged the add but the read-back
// failed. The endpoint exists, so the caller gets what it asked for and an
// error that says so, not a bare failure.
func TestAddNotReadBack(t *testing.T) {
	c, _ := fakeConn(t, func(r request) ([]genetlink.Message, error) {
		if r.Command == cmdGetAddr {
			return nil, genltest.Error(int(unix.EIO))
		}
		return nil, nil
	})
	want := mptcp.Endpoint{ID: 7, Addr: netip.MustParseAddr("192.0.2.7"), Flags: mptcp.FlagSubflow}
	got, err := c.AddEndpoint(want)
	if !errors.Is(err, mptcp.ErrAddedNotReadBack) {
		t.Fatalf("AddEndpoint = %v, want ErrAddedNotReadBack", err)
	}
	if got != want {
		t.Errorf("AddEndpoint returned %v, want the endpoint asked for, %v", got, want)
	}
}

package netstate

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// equateIP compares netip values with ==, as cmp cannot look inside them.
func equateIP() cmp.Option { return cmpopts.EquateComparable(netip.Addr{}) }

// The IFA_F_* bits, written out from linux/if_addr.h so the decoder's use
// of the unix package's names is checked against the header.
const (
	fSecondary      = 0x01 // IFA_F_SECONDARY, IFA_F_TEMPORARY
	fOptimistic     = 0x04
	fDADFailed      = 0x08
	fDeprecated     = 0x20
	fTentative      = 0x40
	fPermanent      = 0x80
	fManageTempAddr = 0x100
	fStablePrivacy  = 0x800
)

// addrMsg builds an RTM_NEWADDR payload the way the kernel's
// inet_fill_ifaddr / inet6_fill_ifaddr do: struct ifaddrmsg with the low 8
// bits of the flags, then IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_CACHEINFO
// and IFA_FLAGS with all 32 bits.
type addrMsg struct {
	family      uint8
	prefixLen   uint8
	scope       uint8
	index       uint32
	address     netip.Addr // IFA_ADDRESS
	local       netip.Addr // IFA_LOCAL, if valid
	flags       uint32
	headerFlags *uint8 // overrides the header's flags byte when set
	noIFAFlags  bool   // leave IFA_FLAGS out, as kernels before 3.14 did
}

func (m addrMsg) bytes(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 8)
	b[0] = m.family
	b[1] = m.prefixLen
	b[2] = uint8(m.flags)
	if m.headerFlags != nil {
		b[2] = *m.headerFlags
	}
	b[3] = m.scope
	binary.NativeEndian.PutUint32(b[4:], m.index)

	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.IFA_ADDRESS, m.address.AsSlice())
	if m.local.IsValid() {
		ae.Bytes(unix.IFA_LOCAL, m.local.AsSlice())
	}
	if m.family == unix.AF_INET {
		ae.String(unix.IFA_LABEL, "eth0")
	}
	ae.Bytes(unix.IFA_CACHEINFO, make([]byte, 16))
	if !m.noIFAFlags {
		ae.Uint32(unix.IFA_FLAGS, m.flags)
	}
	attrs, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return append(b, attrs...)
}

func u8(v uint8) *uint8 { return &v }

func TestDecodeAddress(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.1")
	v6 := netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		name string
		msg  addrMsg
		want Address
	}{
		{
			name: "IPv4 primary",
			msg:  addrMsg{family: unix.AF_INET, prefixLen: 24, index: 2, address: v4, local: v4, flags: fPermanent},
			want: Address{IfIndex: 2, Addr: v4, PrefixLen: 24},
		},
		{
			name: "IPv4 secondary is not temporary",
			msg:  addrMsg{family: unix.AF_INET, prefixLen: 24, index: 2, address: v4, local: v4, flags: fSecondary | fPermanent},
			want: Address{IfIndex: 2, Addr: v4, PrefixLen: 24},
		},
		{
			name: "IPv4 point-to-point: the local end, not the peer",
			msg: addrMsg{family: unix.AF_INET, prefixLen: 32, index: 3, address: netip.MustParseAddr("10.1.1.2"),
				local: netip.MustParseAddr("10.1.1.1"), flags: fPermanent},
			want: Address{IfIndex: 3, Addr: netip.MustParseAddr("10.1.1.1"), PrefixLen: 32},
		},
		{
			name: "IPv6 temporary",
			msg:  addrMsg{family: unix.AF_INET6, prefixLen: 64, index: 2, address: v6, flags: fSecondary},
			want: Address{IfIndex: 2, Addr: v6, PrefixLen: 64, Temporary: true},
		},
		{
			name: "IPv6 link scope, tentative",
			msg:  addrMsg{family: unix.AF_INET6, prefixLen: 64, scope: unix.RT_SCOPE_LINK, index: 4, address: netip.MustParseAddr("fe80::1"), flags: fTentative | fPermanent},
			want: Address{IfIndex: 4, Addr: netip.MustParseAddr("fe80::1"), PrefixLen: 64, Scope: 253, Tentative: true},
		},
		{
			name: "IPv6 dadfailed stays tentative",
			msg:  addrMsg{family: unix.AF_INET6, prefixLen: 64, index: 2, address: v6, flags: fDADFailed | fTentative | fPermanent},
			want: Address{IfIndex: 2, Addr: v6, PrefixLen: 64, DADFailed: true, Tentative: true},
		},
		{
			name: "IPv6 optimistic, deprecated",
			msg:  addrMsg{family: unix.AF_INET6, prefixLen: 64, index: 2, address: v6, flags: fOptimistic | fTentative | fDeprecated},
			want: Address{IfIndex: 2, Addr: v6, PrefixLen: 64, Optimistic: true, Tentative: true, Deprecated: true},
		},
		{
			name: "flags above 8 bits are only in IFA_FLAGS",
			msg:  addrMsg{family: unix.AF_INET6, prefixLen: 64, index: 2, address: v6, flags: fManageTempAddr | fStablePrivacy | fTentative},
			want: Address{IfIndex: 2, Addr: v6, PrefixLen: 64, Tentative: true},
		},
		{
			name: "IFA_FLAGS overrides the header byte",
			msg:  addrMsg{family: unix.AF_INET6, prefixLen: 64, index: 2, address: v6, flags: fDeprecated, headerFlags: u8(fTentative)},
			want: Address{IfIndex: 2, Addr: v6, PrefixLen: 64, Deprecated: true},
		},
		{
			name: "without IFA_FLAGS the header byte counts",
			msg:  addrMsg{family: unix.AF_INET6, prefixLen: 64, index: 2, address: v6, flags: fTentative, noIFAFlags: true},
			want: Address{IfIndex: 2, Addr: v6, PrefixLen: 64, Tentative: true},
		},
		{
			name: "IPv4-mapped is unmapped",
			msg:  addrMsg{family: unix.AF_INET6, prefixLen: 128, index: 2, address: netip.MustParseAddr("::ffff:192.0.2.9")},
			want: Address{IfIndex: 2, Addr: netip.MustParseAddr("192.0.2.9"), PrefixLen: 128},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := decodeAddress(tt.msg.bytes(t))
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				t.Fatal("ok = false for an IP address")
			}
			if diff := cmp.Diff(tt.want, got, equateIP()); diff != "" {
				t.Errorf("decodeAddress (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeAddressOtherFamilies(t *testing.T) {
	// An MCTP address: struct ifaddrmsg, then a one-byte IFA_LOCAL.
	b := []byte{45 /* AF_MCTP */, 0, 0, 0, 2, 0, 0, 0, 5, 0, unix.IFA_LOCAL, 0, 8, 0, 0, 0}
	_, ok, err := decodeAddress(b)
	if err != nil || ok {
		t.Errorf("decodeAddress(MCTP) = ok %v, err %v; want false, nil", ok, err)
	}
}

func TestDecodeAddressErrors(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{name: "short header", b: []byte{unix.AF_INET, 24, 0}},
		{name: "no attributes", b: []byte{unix.AF_INET, 24, 0, 0, 2, 0, 0, 0}},
		{name: "no address attribute", b: append([]byte{unix.AF_INET6, 64, 0, 0, 2, 0, 0, 0}, 8, 0, unix.IFA_FLAGS, 0, 0, 0, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, ok, err := decodeAddress(tt.b); err == nil {
				t.Errorf("decodeAddress = %+v, %v, nil; want an error", a, ok)
			}
		})
	}
}

// linkMsg builds an RTM_NEWLINK payload: struct ifinfomsg and attributes.
func linkMsg(t *testing.T, index int32, flags uint32, attrs func(*netlink.AttributeEncoder)) []byte {
	t.Helper()
	b := make([]byte, 16)
	binary.NativeEndian.PutUint16(b[2:], unix.ARPHRD_ETHER)
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint32(b[8:], flags)
	ae := netlink.NewAttributeEncoder()
	attrs(ae)
	a, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return append(b, a...)
}

func TestDecodeLink(t *testing.T) {
	const (
		iffUp       = 0x1
		iffLoopback = 0x8
		iffLowerUp  = 0x10000
		iffRunning  = 0x40
	)
	tests := []struct {
		name string
		msg  []byte
		want Link
	}{
		{
			name: "up with carrier",
			msg: linkMsg(t, 3, iffUp|iffRunning|iffLowerUp, func(ae *netlink.AttributeEncoder) {
				ae.String(unix.IFLA_IFNAME, "eth0")
				ae.Uint32(unix.IFLA_MTU, 1500)
				ae.Bytes(unix.IFLA_ADDRESS, []byte{2, 0, 0, 0, 0, 1})
			}),
			want: Link{Index: 3, Name: "eth0", AdminUp: true, LowerUp: true},
		},
		{
			name: "up without carrier",
			msg: linkMsg(t, 4, iffUp, func(ae *netlink.AttributeEncoder) {
				ae.String(unix.IFLA_IFNAME, "eth1")
			}),
			want: Link{Index: 4, Name: "eth1", AdminUp: true},
		},
		{
			name: "loopback",
			msg: linkMsg(t, 1, iffUp|iffLoopback|iffLowerUp, func(ae *netlink.AttributeEncoder) {
				ae.String(unix.IFLA_IFNAME, "lo")
			}),
			want: Link{Index: 1, Name: "lo", AdminUp: true, LowerUp: true, Loopback: true},
		},
		{
			// rtnetlink refuses a link-layer address shorter than 4
			// bytes; the link must still be seen.
			name: "attribute rtnetlink rejects",
			msg: linkMsg(t, 7, iffUp|iffLowerUp, func(ae *netlink.AttributeEncoder) {
				ae.String(unix.IFLA_IFNAME, "odd0")
				ae.Bytes(unix.IFLA_ADDRESS, []byte{1, 2})
			}),
			want: Link{Index: 7, Name: "odd0", AdminUp: true, LowerUp: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeLink(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decodeLink (-want +got):\n%s", diff)
			}
		})
	}

	if l, err := decodeLink(make([]byte, 15)); err == nil {
		t.Errorf("decodeLink(15 bytes) = %+v, nil; want an error", l)
	}
}

func TestToEvent(t *testing.T) {
	link := linkMsg(t, 5, 0x1, func(ae *netlink.AttributeEncoder) { ae.String(unix.IFLA_IFNAME, "wlan0") })
	v6 := netip.MustParseAddr("2001:db8::5")
	addr := addrMsg{family: unix.AF_INET6, prefixLen: 64, index: 5, address: v6}.bytes(t)
	wantAddr := Address{IfIndex: 5, Addr: v6, PrefixLen: 64}

	tests := []struct {
		name   string
		typ    netlink.HeaderType
		data   []byte
		want   Event
		wantOK bool
	}{
		{name: "new link", typ: unix.RTM_NEWLINK, data: link, wantOK: true,
			want: Event{Kind: LinkChanged, Link: Link{Index: 5, Name: "wlan0", AdminUp: true}}},
		{name: "deleted link", typ: unix.RTM_DELLINK, data: link, wantOK: true,
			want: Event{Kind: LinkChanged, Deleted: true, Link: Link{Index: 5, Name: "wlan0", AdminUp: true}}},
		{name: "new address", typ: unix.RTM_NEWADDR, data: addr, wantOK: true,
			want: Event{Kind: AddrChanged, Addr: wantAddr}},
		{name: "deleted address", typ: unix.RTM_DELADDR, data: addr, wantOK: true,
			want: Event{Kind: AddrChanged, Deleted: true, Addr: wantAddr}},
		{name: "undecodable address still signals a change", typ: unix.RTM_NEWADDR, data: []byte{unix.AF_INET6}, wantOK: true,
			want: Event{Kind: AddrChanged}},
		{name: "route", typ: unix.RTM_NEWROUTE, data: make([]byte, 12)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := toEvent(netlink.Message{Header: netlink.Header{Type: tt.typ}, Data: tt.data})
			if ok != tt.wantOK {
				t.Errorf("ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got, equateIP()); diff != "" {
				t.Errorf("toEvent (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIsOverflow(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		// How mdlayher/netlink reports a failed recvmsg.
		{name: "ENOBUFS from recvmsg", err: &netlink.OpError{Op: "receive", Err: os.NewSyscallError("recvmsg", unix.ENOBUFS)}, want: true},
		{name: "bare ENOBUFS", err: &netlink.OpError{Op: "receive", Err: unix.ENOBUFS}, want: true},
		{name: "other errno", err: &netlink.OpError{Op: "receive", Err: os.NewSyscallError("recvmsg", unix.EBADF)}},
		{name: "other error", err: errors.New("boom")},
		{name: "nil"},
	}
	for _, tt := range tests {
		if got := isOverflow(tt.err); got != tt.want {
			t.Errorf("%s: isOverflow = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestEventString(t *testing.T) {
	tests := []struct {
		ev   Event
		want string
	}{
		{Event{Kind: LinkChanged, Link: Link{Index: 3, Name: "eth0", AdminUp: true, LowerUp: true}}, "link new 3 eth0 up lower-up"},
		{Event{Kind: LinkChanged, Deleted: true, Link: Link{Index: 3, Name: "eth0"}}, "link del 3 eth0"},
		{Event{Kind: AddrChanged, Addr: Address{IfIndex: 3, Addr: netip.MustParseAddr("2001:db8::1"), PrefixLen: 64, Tentative: true}}, "address new 2001:db8::1/64 link 3 tentative"},
		{Event{Kind: Overflow}, "overflow: the kernel dropped link/address events"},
	}
	for _, tt := range tests {
		if got := tt.ev.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

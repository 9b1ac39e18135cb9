package pm

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func TestDecodeEvent(t *testing.T) {
	// A SUB_ESTABLISHED as a dual-stack listener reports it: family 10,
	// IPv4-mapped addresses, ports in network byte order.
	saddr := netip.MustParseAddr("::ffff:192.0.2.1").As16()
	daddr := netip.MustParseAddr("::ffff:198.51.100.2").As16()
	data := mustEncode(t, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(evAttrToken, 0xdeadbeef)
		ae.Uint16(evAttrFamily, unix.AF_INET6)
		ae.Uint8(evAttrLocID, 2)
		ae.Uint8(evAttrRemID, 3)
		ae.Bytes(evAttrSaddr6, saddr[:])
		ae.Bytes(evAttrDaddr6, daddr[:])
		ae.Bytes(evAttrSport, []byte{0x1f, 0x90}) // 8080
		ae.Bytes(evAttrDport, []byte{0xc3, 0x50}) // 50000
		ae.Uint8(evAttrBackup, 1)
		ae.Int32(evAttrIfIdx, 4)
		ae.Uint8(evAttrServerSide, 1)
	})
	got, err := decodeEvent(genetlink.Message{Header: genetlink.Header{Command: uint8(EventSubEstablished)}, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	want := Event{
		Type: EventSubEstablished, Token: 0xdeadbeef, Family: unix.AF_INET6, LocalID: 2, RemoteID: 3,
		Saddr: netip.MustParseAddr("192.0.2.1"), Daddr: netip.MustParseAddr("198.51.100.2"),
		Sport: 8080, Dport: 50000, Backup: 1, IfIndex: 4, ServerSide: true,
	}
	if diff := cmp.Diff(want, got, addrCmp, cmp.AllowUnexported(Event{}), cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".present"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("decodeEvent (-want +got):\n%s", diff)
	}
	for _, a := range []EventAttr{EvToken, EvFamily, EvLocalID, EvRemoteID, EvSaddr, EvDaddr, EvSport, EvDport, EvBackup, EvIfIndex, EvServerSide} {
		if !got.Has(a) {
			t.Errorf("Has(%d) = false, want true", a)
		}
	}
	for _, a := range []EventAttr{EvError, EvFlags, EvTimeout, EvResetReason, EvResetFlags} {
		if got.Has(a) {
			t.Errorf("Has(%d) = true for an attribute the event did not carry", a)
		}
	}
	if got.Type.String() != "SF_ESTABLISHED" {
		t.Errorf("Type.String() = %q, want SF_ESTABLISHED", got.Type.String())
	}
}

func TestDecodeEventBadPort(t *testing.T) {
	data := mustEncode(t, func(ae *netlink.AttributeEncoder) { ae.Uint32(evAttrSport, 1) })
	if _, err := decodeEvent(genetlink.Message{Header: genetlink.Header{Command: uint8(EventCreated)}, Data: data}); err == nil {
		t.Fatal("decodeEvent accepted a 4-byte port")
	}
}

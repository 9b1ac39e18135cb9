package ipcmd

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/pm"
)

// showState is the state `ip mptcp endpoint show` printed the expected
// outputs below for (iproute2 6.1, Linux 6.18).
var showState = []ShownEndpoint{
	{Endpoint: ep(1, "2001:db8::1", 0, mptcp.FlagSignal)},
	{Endpoint: mptcp.Endpoint{ID: 3, Addr: netip.MustParseAddr("10.0.0.1"), Port: 1234, Flags: mptcp.FlagSignal, IfIndex: 4}, Dev: "v0"},
	{Endpoint: mptcp.Endpoint{ID: 4, Addr: netip.MustParseAddr("10.0.0.2"), Flags: mptcp.FlagSubflow | mptcp.FlagBackup | mptcp.FlagFullmesh, IfIndex: 4}, Dev: "v0"},
	{Endpoint: mptcp.Endpoint{ID: 255, Addr: netip.MustParseAddr("10.0.0.3"), Flags: mptcp.FlagSubflow, IfIndex: 4}, Dev: "v0"},
}

func TestFormatEndpoints(t *testing.T) {
	tests := []struct {
		name   string
		eps    []ShownEndpoint
		format Format
		want   string
	}{
		{"text", showState, Format{}, "" +
			"2001:db8::1 id 1 signal \n" +
			"10.0.0.1 port 1234 id 3 signal dev v0 \n" +
			"10.0.0.2 id 4 subflow backup fullmesh dev v0 \n" +
			"10.0.0.3 id 255 subflow dev v0 \n"},
		{"json", showState, Format{JSON: true}, `[{"address":"2001:db8::1","id":1,"signal":true},{"address":"10.0.0.1","port":1234,"id":3,"signal":true,"dev":"v0"},{"address":"10.0.0.2","id":4,"subflow":true,"backup":true,"fullmesh":true,"dev":"v0"},{"address":"10.0.0.3","id":255,"subflow":true,"dev":"v0"}]` + "\n"},
		{"pretty json", showState, Format{JSON: true, Pretty: true}, `[ {
        "address": "2001:db8::1",
        "id": 1,
        "signal": true
    },{
        "address": "10.0.0.1",
        "port": 1234,
        "id": 3,
        "signal": true,
        "dev": "v0"
    },{
        "address": "10.0.0.2",
        "id": 4,
        "subflow": true,
        "backup": true,
        "fullmesh": true,
        "dev": "v0"
    },{
        "address": "10.0.0.3",
        "id": 255,
        "subflow": true,
        "dev": "v0"
    } ]
`},
		{"no endpoints, text", nil, Format{}, ""},
		{"no endpoints, json", nil, Format{JSON: true}, "[]\n"},
		{"no endpoints, pretty json", nil, Format{JSON: true, Pretty: true}, "[ ]\n"},
		{"laminar, implicit and unknown bits", []ShownEndpoint{
			{Endpoint: ep(2, "192.0.2.1", 0, mptcp.FlagSubflow|mptcp.FlagImplicit|mptcp.FlagLaminar|0x40)},
		}, Format{}, "192.0.2.1 id 2 subflow implicit laminar rawflags 40 \n"},
		{"laminar, implicit and unknown bits, json", []ShownEndpoint{
			{Endpoint: ep(2, "192.0.2.1", 0, mptcp.FlagSubflow|mptcp.FlagImplicit|mptcp.FlagLaminar|0x40)},
		}, Format{JSON: true}, `[{"address":"192.0.2.1","id":2,"subflow":true,"implicit":true,"laminar":true,"rawflags":"40"}]` + "\n"},
		{"no flags, mapped and compatible addresses", []ShownEndpoint{
			{Endpoint: ep(1, "::ffff:10.0.0.5", 0, 0)},
			{Endpoint: ep(2, "::102:304", 0, 0)},
		}, Format{}, "::ffff:10.0.0.5 id 1 \n::1.2.3.4 id 2 \n"},
		{"device without a name", []ShownEndpoint{
			{Endpoint: mptcp.Endpoint{ID: 1, Addr: netip.MustParseAddr("192.0.2.1"), IfIndex: 99}, Dev: "if99"},
		}, Format{}, "192.0.2.1 id 1 dev if99 \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, FormatEndpoints(tt.eps, tt.format)); diff != "" {
				t.Errorf("FormatEndpoints (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormatLimits(t *testing.T) {
	l := mptcp.Limits{AddAddrAccepted: 0, Subflows: 2}
	tests := []struct {
		name   string
		format Format
		want   string
	}{
		{"text", Format{}, "add_addr_accepted 0 subflows 2 \n"},
		{"json", Format{JSON: true}, `{"add_addr_accepted":0,"subflows":2}` + "\n"},
		{"pretty json", Format{JSON: true, Pretty: true}, "{\n    \"add_addr_accepted\": 0,\n    \"subflows\": 2\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, FormatLimits(l, tt.format)); diff != "" {
				t.Errorf("FormatLimits (-want +got):\n%s", diff)
			}
		})
	}
}

// hasOnly returns a pm.Event.Has for events built in tests.
func hasOnly(attrs ...pm.EventAttr) func(pm.EventAttr) bool {
	return func(a pm.EventAttr) bool {
		for _, x := range attrs {
			if x == a {
				return true
			}
		}
		return false
	}
}

func TestFormatEvent(t *testing.T) {
	created := pm.Event{
		Type: pm.EventCreated, Token: 0xabc, Family: unix.AF_INET,
		Saddr: netip.MustParseAddr("10.0.0.1"), Daddr: netip.MustParseAddr("10.0.0.2"),
		Sport: 40000, Dport: 80, Flags: 2,
	}
	createdHas := hasOnly(pm.EvToken, pm.EvFamily, pm.EvSaddr, pm.EvDaddr, pm.EvSport, pm.EvDport, pm.EvFlags)
	subClosed := pm.Event{
		Type: pm.EventSubClosed, Token: 0xdeadbeef, Family: unix.AF_INET6,
		LocalID: 1, RemoteID: 2,
		Saddr: netip.MustParseAddr("10.0.0.1"), Daddr: netip.MustParseAddr("2001:db8::2"),
		Sport: 1, Dport: 2, Backup: 1, Error: 110, IfIndex: 3, ResetReason: 1, ResetFlags: 0x10,
	}
	subClosedHas := hasOnly(pm.EvToken, pm.EvFamily, pm.EvLocalID, pm.EvRemoteID, pm.EvSaddr, pm.EvDaddr,
		pm.EvSport, pm.EvDport, pm.EvBackup, pm.EvError, pm.EvIfIndex, pm.EvResetReason, pm.EvResetFlags)
	listener := pm.Event{Type: pm.EventListenerCreated, Family: unix.AF_INET, Saddr: netip.MustParseAddr("0.0.0.0"), Sport: 5000}
	listenerHas := hasOnly(pm.EvFamily, pm.EvSaddr, pm.EvSport)
	announced := pm.Event{Type: pm.EventAnnounced, Token: 1, RemoteID: 5, Family: unix.AF_INET, Daddr: netip.MustParseAddr("10.0.0.9"), Timeout: 120}
	announcedHas := hasOnly(pm.EvToken, pm.EvRemoteID, pm.EvFamily, pm.EvDaddr, pm.EvTimeout)

	tests := []struct {
		name   string
		ev     pm.Event
		has    func(pm.EventAttr) bool
		format Format
		want   string
	}{
		{"created", created, createdHas, Format{},
			"[       CREATED] token=00000abc saddr4=10.0.0.1 daddr4=10.0.0.2 sport=40000 dport=80 flags=2\n"},
		{"subflow closed on a dual-stack socket", subClosed, subClosedHas, Format{},
			"[     SF_CLOSED] token=deadbeef remid=2 locid=1 saddr6=::ffff:10.0.0.1 daddr6=2001:db8::2 sport=1 dport=2 backup=1 error=110 ifindex=3 reset_reason=1 reset_flags=0x10\n"},
		{"listener", listener, listenerHas, Format{},
			"[LISTENER_CREATED] saddr4=0.0.0.0 sport=5000\n"},
		{"announced", announced, announcedHas, Format{},
			"[     ANNOUNCED] token=00000001 remid=5 daddr4=10.0.0.9 timeout=120\n"},
		{"unknown", pm.Event{Type: 42}, hasOnly(), Format{}, "[UNKNOWN 42]\n"},
		{"created, json", created, createdHas, Format{JSON: true},
			`{"event":"CREATED","token":"00000abc","saddr4":"10.0.0.1","daddr4":"10.0.0.2","sport":40000,"dport":80,"flags":2}` + "\n"},
		{"announced, pretty json", announced, announcedHas, Format{JSON: true, Pretty: true},
			"{\n    \"event\": \"ANNOUNCED\",\n    \"token\": \"00000001\",\n    \"remid\": 5,\n    \"daddr4\": \"10.0.0.9\",\n    \"timeout\": 120\n}\n"},
		{"unknown, json", pm.Event{Type: 42}, hasOnly(), Format{JSON: true}, `{"event":"UNKNOWN 42"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, FormatEvent(tt.ev, tt.has, tt.format)); diff != "" {
				t.Errorf("FormatEvent (-want +got):\n%s", diff)
			}
		})
	}
}

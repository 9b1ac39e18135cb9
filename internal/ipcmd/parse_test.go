package ipcmd

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
)

var addrComparer = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func u32(v uint32) *uint32 { return &v }

func ep(id uint8, addr string, port uint16, flags mptcp.Flags) mptcp.Endpoint {
	e := mptcp.Endpoint{ID: id, Port: port, Flags: flags}
	if addr != "" {
		e.Addr = netip.MustParseAddr(addr)
	}
	return e
}

func TestParse(t *testing.T) {
	tests := []struct {
		args string
		want Command
	}{
		// Every command, in full.
		{"endpoint add 192.0.2.1 dev eth0 id 3 port 2000 signal", Command{Op: OpEndpointAdd, Endpoint: ep(3, "192.0.2.1", 2000, mptcp.FlagSignal), IDSet: true, Dev: "eth0"}},
		{"endpoint add 2001:db8::1 subflow backup fullmesh laminar", Command{Op: OpEndpointAdd, Endpoint: ep(0, "2001:db8::1", 0, mptcp.FlagSubflow|mptcp.FlagBackup|mptcp.FlagFullmesh|mptcp.FlagLaminar)}},
		{"endpoint add 192.0.2.1 id 0", Command{Op: OpEndpointAdd, Endpoint: ep(0, "192.0.2.1", 0, 0), IDSet: true}},
		{"endpoint add 192.0.2.1 nobackup nofullmesh", Command{Op: OpEndpointAdd, Endpoint: ep(0, "192.0.2.1", 0, 0)}},
		{"endpoint add 192.0.2.1 192.0.2.2", Command{Op: OpEndpointAdd, Endpoint: ep(0, "192.0.2.2", 0, 0)}}, // the last wins, as in ip
		{"endpoint add ::ffff:192.0.2.1 subflow", Command{Op: OpEndpointAdd, Endpoint: ep(0, "::ffff:192.0.2.1", 0, mptcp.FlagSubflow)}},
		{"endpoint delete id 4", Command{Op: OpEndpointDelete, Endpoint: ep(4, "", 0, 0), IDSet: true}},
		{"endpoint delete id 0 192.0.2.1", Command{Op: OpEndpointDelete, Endpoint: ep(0, "192.0.2.1", 0, 0), IDSet: true}},
		{"endpoint delete id 4 signal", Command{Op: OpEndpointDelete, Endpoint: ep(4, "", 0, mptcp.FlagSignal), IDSet: true}},
		{"endpoint change id 1 backup", Command{Op: OpEndpointChange, Endpoint: ep(1, "", 0, mptcp.FlagBackup), IDSet: true}},
		{"endpoint change id 1 nobackup", Command{Op: OpEndpointChange, Endpoint: ep(1, "", 0, 0), IDSet: true}},
		{"endpoint change 192.0.2.1 port 2000 fullmesh nobackup", Command{Op: OpEndpointChange, Endpoint: ep(0, "192.0.2.1", 2000, mptcp.FlagFullmesh)}},
		{"endpoint change id 0 192.0.2.1 backup", Command{Op: OpEndpointChange, Endpoint: ep(0, "192.0.2.1", 0, mptcp.FlagBackup), IDSet: true}},
		{"endpoint show", Command{Op: OpEndpointShow}},
		{"endpoint show id 7", Command{Op: OpEndpointShow, Endpoint: ep(7, "", 0, 0), IDSet: true}},
		{"endpoint", Command{Op: OpEndpointShow}},
		{"endpoint flush", Command{Op: OpEndpointFlush}},
		{"limits set subflows 2 add_addr_accepted 3", Command{Op: OpLimitsSet, Limits: mptcp.LimitsUpdate{Subflows: u32(2), AddAddrAccepted: u32(3)}}},
		{"limits set add_addr_accepted 9", Command{Op: OpLimitsSet, Limits: mptcp.LimitsUpdate{AddAddrAccepted: u32(9)}}}, // the kernel refuses it
		{"limits set subflows 3 subflows 4", Command{Op: OpLimitsSet, Limits: mptcp.LimitsUpdate{Subflows: u32(4)}}},
		{"limits set", Command{Op: OpLimitsSet}},
		{"limits show", Command{Op: OpLimitsShow}},
		{"limits", Command{Op: OpLimitsShow}},
		{"monitor", Command{Op: OpMonitor}},

		// Prefixes, with iproute2's precedence.
		{"e", Command{Op: OpEndpointShow}},
		{"endp sh", Command{Op: OpEndpointShow}},
		{"e a 192.0.2.1 i 5 d eth0 p 7 signal", Command{Op: OpEndpointAdd, Endpoint: ep(5, "192.0.2.1", 7, mptcp.FlagSignal), IDSet: true, Dev: "eth0"}},
		{"e c i 2 backup", Command{Op: OpEndpointChange, Endpoint: ep(2, "", 0, mptcp.FlagBackup), IDSet: true}},
		{"e d i 2", Command{Op: OpEndpointDelete, Endpoint: ep(2, "", 0, 0), IDSet: true}},
		{"e s i 2", Command{Op: OpEndpointShow, Endpoint: ep(2, "", 0, 0), IDSet: true}},
		{"e f", Command{Op: OpEndpointFlush}},
		{"lim s", Command{Op: OpLimitsSet}}, // "s" is set before show, as in ip
		{"l sh", Command{Op: OpLimitsShow}},
		{"l se s 1 a 2", Command{Op: OpLimitsSet, Limits: mptcp.LimitsUpdate{Subflows: u32(1), AddAddrAccepted: u32(2)}}},
		{"m", Command{Op: OpMonitor}},

		// Numbers as C reads them.
		{"endpoint add 192.0.2.1 id 0x10 port 010 signal", Command{Op: OpEndpointAdd, Endpoint: ep(16, "192.0.2.1", 8, mptcp.FlagSignal), IDSet: true}},
		{"endpoint add 10.8 subflow", Command{Op: OpEndpointAdd, Endpoint: ep(0, "10.8.0.0", 0, mptcp.FlagSubflow)}},

		// Help, at every level.
		{"help", Command{Op: OpHelp}},
		{"h", Command{Op: OpHelp}},
		{"--help", Command{Op: OpHelp}},
		{"endpoint help", Command{Op: OpHelp, Topic: "endpoint"}},
		{"endpoint -h", Command{Op: OpHelp, Topic: "endpoint"}},
		{"endpoint add --help", Command{Op: OpHelp, Topic: "endpoint add"}},
		{"endpoint add 192.0.2.1 help", Command{Op: OpHelp, Topic: "endpoint add"}},
		{"endpoint flush help", Command{Op: OpHelp, Topic: "endpoint flush"}},
		{"limits help", Command{Op: OpHelp, Topic: "limits"}},
		{"limits set -h", Command{Op: OpHelp, Topic: "limits set"}},
		{"limits show help", Command{Op: OpHelp, Topic: "limits show"}},
		{"monitor help", Command{Op: OpHelp, Topic: "monitor"}},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			got, err := Parse(strings.Fields(tt.args))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, addrComparer); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		args      string
		wantTopic string
		wantMsg   string
	}{
		{"", "", `missing command: expected endpoint, limits or monitor`},
		{"bogus", "", `unknown command "bogus": expected endpoint, limits or monitor`},
		{"endpoint bogus", "endpoint", `unknown endpoint command "bogus": expected add, change, delete, show or flush`},
		{"limits bogus", "limits", `unknown limits command "bogus": expected set or show`},
		{"limits m", "limits", `unknown limits command "m": expected set or show`}, // ip would start monitor here
		{"monitor now", "monitor", `monitor takes no arguments`},
		{"endpoint flush id 3", "endpoint flush", `endpoint flush takes no arguments: it deletes every endpoint (to delete one, use "endpoint delete id ID")`},
		{"limits show subflows 5", "limits show", `limits show takes no arguments`},

		{"endpoint add", "endpoint add", `endpoint add needs an address: endpoint add ADDRESS [dev NAME] [id ID] [port NR] [FLAG...]`},
		{"endpoint add subflow id 3", "endpoint add", `endpoint add needs an address: endpoint add ADDRESS [dev NAME] [id ID] [port NR] [FLAG...]`},
		{"endpoint add 192.0.2.1 foo", "endpoint add", `invalid argument "foo": expected an IPv4 or IPv6 address, a flag (signal, subflow, backup, fullmesh, laminar), or id ID, dev NAME, port NR`},
		{"endpoint add 192.0.2.1 Signal", "endpoint add", `invalid argument "Signal": expected an IPv4 or IPv6 address, a flag (signal, subflow, backup, fullmesh, laminar), or id ID, dev NAME, port NR`},
		{"endpoint add 192.0.2.1 sig", "endpoint add", `invalid argument "sig": expected an IPv4 or IPv6 address, a flag (signal, subflow, backup, fullmesh, laminar), or id ID, dev NAME, port NR`}, // flags have no prefixes
		{"endpoint add 192.0.2.1 id 256", "endpoint add", `invalid id "256": an endpoint id is 1..255`},
		{"endpoint add 192.0.2.1 id -1", "endpoint add", `invalid id "-1": an endpoint id is 1..255`},
		{"endpoint add 192.0.2.1 id x", "endpoint add", `invalid id "x": an endpoint id is 1..255`},
		{"endpoint add 192.0.2.1 id", "endpoint add", `"id" needs a value: id ID, where ID is 1..255`},
		{"endpoint add 192.0.2.1 dev", "endpoint add", `"dev" needs a value: dev NAME`},
		{"endpoint add 192.0.2.1 dev a234567890123456", "endpoint add", `invalid device name "a234567890123456": a device name has 1 to 15 characters, none of them "/" or white space`},
		{"endpoint add 192.0.2.1 port 65536 signal", "endpoint add", `invalid port "65536": a port is 1..65535`},
		{"endpoint add 192.0.2.1 port", "endpoint add", `"port" needs a value: port NR, where NR is 1..65535`},
		{"endpoint add 192.0.2.1 port 2000", "endpoint add", `port 2000 needs the signal flag: only a signal endpoint is announced to peers with its port`},
		{"endpoint add 192.0.2.1 port 2000 subflow", "endpoint add", `port 2000 needs the signal flag: only a signal endpoint is announced to peers with its port`},
		{"endpoint add 192.0.2.1 signal fullmesh", "endpoint add", `flags signal and fullmesh cannot be combined: fullmesh makes subflows to every announced address, signal announces this one (use subflow fullmesh)`},
		{"endpoint add 192.0.2.1 fullmesh backup signal", "endpoint add", `flags signal and fullmesh cannot be combined: fullmesh makes subflows to every announced address, signal announces this one (use subflow fullmesh)`},
		{"endpoint add 192.0.2.1 implicit", "endpoint add", `flag "implicit" cannot be requested: the kernel sets it on endpoints it creates by itself`},
		{"endpoint add any", "endpoint add", `"any" is not an endpoint address: give one IPv4 or IPv6 address`},
		{"endpoint add fe80::1%eth0", "endpoint add", `invalid argument "fe80::1%eth0": expected an IPv4 or IPv6 address, a flag (signal, subflow, backup, fullmesh, laminar), or id ID, dev NAME, port NR`},

		{"endpoint delete", "endpoint delete", `endpoint delete needs an id: endpoint delete id ID`},
		{"endpoint delete 192.0.2.1", "endpoint delete", `endpoint delete needs an id: endpoint delete id ID`},
		{"endpoint delete id 0", "endpoint delete", `endpoint delete id 0 needs an address: id 0 names no endpoint; "delete id 0 ADDRESS" closes the initial subflows of connections from ADDRESS`},
		{"endpoint delete id 3 192.0.2.1", "endpoint delete", `endpoint delete id 3 takes no address: the kernel finds the endpoint by its id alone (an address goes only with id 0)`},
		{"endpoint delete id 3 x", "endpoint delete", `invalid argument "x": expected id ID (and, with id 0 only, an IPv4 or IPv6 address)`},

		{"endpoint change id 1 signal", "endpoint change", `endpoint change cannot set "signal": only backup, nobackup, fullmesh and nofullmesh change in place (delete and add the endpoint to change the rest)`},
		{"endpoint change id 1 laminar", "endpoint change", `endpoint change cannot set "laminar": only backup, nobackup, fullmesh and nofullmesh change in place (delete and add the endpoint to change the rest)`},
		{"endpoint change id 1 port 2000 backup", "endpoint change", `endpoint change takes id ID, or ADDRESS [port NR], not id and port: the port only helps find an endpoint by address`},
		{"endpoint change backup", "endpoint change", `endpoint change needs id ID (1..255) or the endpoint's address to find it`},
		{"endpoint change id 0 backup", "endpoint change", `endpoint change needs id ID (1..255) or the endpoint's address to find it`},
		{"endpoint change id 1 dev", "endpoint change", `"dev" needs a value: dev NAME`},
		{"endpoint change id 1 bogus", "endpoint change", `invalid argument "bogus": expected id ID, an IPv4 or IPv6 address, port NR, or backup, nobackup, fullmesh, nofullmesh`},

		{"endpoint show id 0", "endpoint show", `invalid id "0": no endpoint has id 0; an endpoint id is 1..255`},
		{"endpoint show 192.0.2.1", "endpoint show", `endpoint show takes no arguments (to show every endpoint) or id ID (to show one)`},
		{"endpoint show id 1 bogus", "endpoint show", `invalid argument "bogus": expected id ID`},
		{"endpoint show id 1 signal port 80 dev lo 192.0.2.99", "endpoint show", `endpoint show takes only id ID: it shows that one endpoint, whatever else the line says`},

		{"limits set subflows", "limits set", `"subflows" needs a value: subflows NR, where NR is 0..8`},
		{"limits set subflows x", "limits set", `invalid subflows "x": a limit is 0..8`},
		{"limits set add_addr_accepted 4294967296", "limits set", `invalid add_addr_accepted "4294967296": a limit is 0..8`},
		{"limits set bogus 1", "limits set", `unknown limit "bogus": expected subflows NR or add_addr_accepted NR`},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			_, err := Parse(strings.Fields(tt.args))
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse: got %v, want a usage error", err)
			}
			if diff := cmp.Diff(&UsageError{Msg: tt.wantMsg, Topic: tt.wantTopic}, ue); diff != "" {
				t.Errorf("usage error (-want +got):\n%s", diff)
			}
			if got := ExitCode(err); got != ExitUsage {
				t.Errorf("ExitCode = %d, want %d", got, ExitUsage)
			}
		})
	}
}

// TestUsageCoversEveryTopic checks that each help page a usage error points
// to exists and shows the command's synopsis.
func TestUsageCoversEveryTopic(t *testing.T) {
	for _, topic := range append([]string{"", "endpoint", "limits"}, topics()...) {
		u := Usage("mptcpd", topic)
		if !strings.HasPrefix(u, "Usage: mptcpd ") {
			t.Errorf("Usage(%q) starts %q, want a synopsis", topic, strings.SplitN(u, "\n", 2)[0])
		}
		if topic != "" && !strings.Contains(u, "mptcpd "+topic) {
			t.Errorf("Usage(%q) does not show the command:\n%s", topic, u)
		}
	}
}

func topics() []string {
	var ts []string
	for _, c := range commandHelp {
		ts = append(ts, c.topic)
	}
	return ts
}

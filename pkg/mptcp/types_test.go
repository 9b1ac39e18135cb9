package mptcp

import (
	"net/netip"
	"testing"
)

func TestFlagsString(t *testing.T) {
	tests := []struct {
		flags Flags
		want  string
	}{
		{0, ""},
		{FlagSignal, "signal"},
		// iproute2's order, whatever the bit order.
		{FlagLaminar | FlagImplicit | FlagFullmesh | FlagBackup | FlagSubflow | FlagSignal, "signal subflow backup fullmesh implicit laminar"},
		{FlagBackup | 0x40, "backup rawflags 40"},
		{0x180, "rawflags 180"},
	}
	for _, tt := range tests {
		if got := tt.flags.String(); got != tt.want {
			t.Errorf("Flags(%#x).String() = %q, want %q", uint32(tt.flags), got, tt.want)
		}
	}
}

func TestParseFlagRoundTrip(t *testing.T) {
	for _, name := range FlagNames() {
		f, ok := ParseFlag(name)
		if !ok || f.String() != name {
			t.Errorf("ParseFlag(%q) = %v, %v; String back = %q", name, f, ok, f.String())
		}
	}
	if _, ok := ParseFlag("nobackup"); ok {
		t.Error("ParseFlag accepted nobackup, which is a change option, not a flag")
	}
}

func TestEndpointString(t *testing.T) {
	ep := Endpoint{ID: 3, Addr: netip.MustParseAddr("2001:db8::1"), Port: 443, Flags: FlagSignal | FlagBackup, IfIndex: 2}
	if got, want := ep.String(), "2001:db8::1 port 443 id 3 signal backup ifindex 2"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

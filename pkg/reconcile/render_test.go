package reconcile_test

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/reconcile"
)

func TestStepString(t *testing.T) {
	tests := []struct {
		step reconcile.Step
		want string
	}{
		{add("192.0.2.10 id 10 subflow backup ifindex 3", "eth1"), "+ add 192.0.2.10 id 10 subflow backup dev eth1"},
		{add("192.0.2.10 subflow ifindex 7", ""), "+ add 192.0.2.10 subflow ifindex 7"},
		{add("2001:db8::10 port 20000 signal", ""), "+ add 2001:db8::10 port 20000 signal"},
		{takeover("192.0.2.3 id 2 implicit", "192.0.2.3 subflow", ""), "+ add 192.0.2.3 subflow (takes over implicit endpoint id 2)"},
		{del("192.0.2.99 id 7 subflow", "not in the file"), "- delete 192.0.2.99 id 7 (not in the file)"},
		{setFlags("192.0.2.10 id 10 subflow backup", "192.0.2.10 id 10 subflow", "", "backup -> nobackup"), "~ change 192.0.2.10 id 10: backup -> nobackup"},
		{replace("192.0.2.11 id 3 signal", "", "192.0.2.11 port 8080 signal", "", "port 0 -> 8080 forces replacement"), "-/+ replace 192.0.2.11 id 3: port 0 -> 8080 forces replacement"},
		{reconcile.Step{Kind: reconcile.SetLimits, Limits: mptcp.LimitsUpdate{Subflows: u32(4)}, LimitsFrom: mptcp.Limits{Subflows: 2}}, "limits: subflows 2 -> 4"},
		{reconcile.Step{Kind: reconcile.SetLimits, Limits: mptcp.LimitsUpdate{Subflows: u32(4), AddAddrAccepted: u32(1)}, LimitsFrom: mptcp.Limits{Subflows: 2}}, "limits: subflows 2 -> 4, add_addr_accepted 0 -> 1"},
		{reconcile.Step{Kind: reconcile.SetSysctl, Sysctl: "enabled", Value: "1", OldValue: "0"}, "sysctl net.mptcp.enabled: 0 -> 1"},
		{reconcile.Step{Kind: reconcile.SetSysctl, Sysctl: "scheduler", Value: "default"}, "sysctl net.mptcp.scheduler: (unknown) -> default"},
	}
	for _, tt := range tests {
		if got := tt.step.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestWithheldString(t *testing.T) {
	tests := []struct {
		w    reconcile.Withheld
		want string
	}{
		{reconcile.Withheld{Entry: 0, Address: netip.MustParseAddr("192.0.2.1"), Dev: "eth0", Reason: reconcile.ReasonLinkDown, Detail: "eth0 is down"}, "192.0.2.1 dev eth0 (entry 1): link down: eth0 is down"},
		{reconcile.Withheld{Entry: 2, Dev: "wlan0", Reason: reconcile.ReasonDeviceMissing}, "dev wlan0 (entry 3): device missing"},
		{reconcile.Withheld{Entry: 1, Address: netip.MustParseAddr("2001:db8::1"), Port: 443, Reason: reconcile.ReasonNoSlot, Detail: "8 endpoints in use"}, "2001:db8::1 port 443 (entry 2): no slot: 8 endpoints in use"},
	}
	for _, tt := range tests {
		if got := tt.w.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestPlanJSON(t *testing.T) {
	p := reconcile.Plan{
		EndpointsBefore: 2,
		EndpointsAfter:  2,
		Steps: []reconcile.Step{
			del("192.0.2.99 id 7 subflow ifindex 3", "not in the file", "eth1"),
			add("192.0.2.10 id 10 subflow backup ifindex 3", "eth1"),
			{Kind: reconcile.SetLimits, Limits: mptcp.LimitsUpdate{Subflows: u32(4)}, LimitsFrom: mptcp.Limits{Subflows: 2}, Reason: "limits differ from the file"},
			{Kind: reconcile.SetSysctl, Sysctl: "enabled", Value: "1", OldValue: "0", Reason: "value differs from the file"},
		},
		Withheld: []reconcile.Withheld{{Entry: 1, Address: netip.MustParseAddr("2001:db8::1"), Dev: "eth1", Reason: reconcile.ReasonTentative, Detail: "on eth1"}},
	}
	got, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	// Compare as decoded values, so the test pins names and values but
	// not whitespace.
	const want = `{
	  "steps": [
	    {"kind": "delete", "text": "- delete 192.0.2.99 id 7 (not in the file)",
	     "from": {"id": 7, "address": "192.0.2.99", "port": 0, "flags": ["subflow"], "ifindex": 3, "dev": "eth1"},
	     "reason": "not in the file", "disruptive": true},
	    {"kind": "add", "text": "+ add 192.0.2.10 id 10 subflow backup dev eth1",
	     "to": {"id": 10, "address": "192.0.2.10", "port": 0, "flags": ["subflow", "backup"], "ifindex": 3, "dev": "eth1"},
	     "reason": "", "disruptive": false},
	    {"kind": "set_limits", "text": "limits: subflows 2 -> 4",
	     "limits": {"subflows": 4}, "limits_from": {"subflows": 2, "add_addr_accepted": 0},
	     "reason": "limits differ from the file", "disruptive": false},
	    {"kind": "set_sysctl", "text": "sysctl net.mptcp.enabled: 0 -> 1",
	     "sysctl": "enabled", "value": "1", "old_value": "0",
	     "reason": "value differs from the file", "disruptive": false}
	  ],
	  "withheld": [
	    {"entry": 2, "address": "2001:db8::1", "port": 0, "dev": "eth1", "reason": "address tentative (DAD)", "detail": "on eth1"}
	  ],
	  "endpoints_before": 2,
	  "endpoints_after": 2,
	  "disruptive": true
	}`
	var gotV, wantV any
	if err := json.Unmarshal(got, &gotV); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &wantV); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantV, gotV); diff != "" {
		t.Errorf("JSON mismatch (-want +got):\n%s\ngot: %s", diff, got)
	}
}

func TestEmptyPlanJSONHasLists(t *testing.T) {
	got, err := json.Marshal(reconcile.Plan{})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"steps":[],"withheld":[],"endpoints_before":0,"endpoints_after":0,"disruptive":false}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestPlanText(t *testing.T) {
	p := reconcile.Plan{Steps: []reconcile.Step{del("192.0.2.99 id 7", "not in the file")},
		Withheld: []reconcile.Withheld{{Entry: 0, Dev: "wlan0", Reason: reconcile.ReasonLinkDown}}}
	want := "- delete 192.0.2.99 id 7 (not in the file)\nwithheld dev wlan0 (entry 1): link down\n"
	if got := p.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := (reconcile.Plan{}).String(); got != "no changes\n" {
		t.Errorf("empty plan: got %q", got)
	}
}

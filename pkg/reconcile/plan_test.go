package reconcile_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/pkg/config"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/netstate"
	"github.com/mptcpd/mptcpd/pkg/reconcile"
)

const fullTable = "the kernel refuses every add while 8 endpoints exist, even one that takes over an implicit endpoint"

type planCase struct {
	name     string
	cfg      *config.Config
	net      netstate.Snapshot // host() when zero
	owned    reconcile.OwnedSet
	observed []mptcp.Endpoint
	limits   mptcp.Limits
	sysctls  map[string]string
	want     reconcile.Plan // EndpointsBefore is filled in from observed
}

func runPlanCases(t *testing.T, cases []planCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			net := tc.net
			if net.Links == nil {
				net = host()
			}
			got := reconcile.NewPlan(
				reconcile.Desired{Config: tc.cfg, Net: net, Owned: tc.owned},
				reconcile.Observed{Endpoints: tc.observed, Limits: tc.limits, Sysctls: tc.sysctls},
			)
			want := tc.want
			want.EndpointsBefore = len(tc.observed)
			if diff := cmp.Diff(want, got, cmpAddr); diff != "" {
				t.Errorf("plan mismatch (-want +got):\n%s\ngot:\n%s", diff, got)
			}
		})
	}
}

func TestPlanMatching(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:     "identical: nothing to do",
			cfg:      exclusive(fixed("192.0.2.1 id 1 subflow dev eth0"), fixed("192.0.2.2 signal")),
			observed: eps("192.0.2.1 id 1 subflow ifindex 2", "192.0.2.2 id 2 signal"),
			want:     reconcile.Plan{EndpointsAfter: 2},
		},
		{
			name:     "an IPv4-mapped address in the kernel is the same address",
			cfg:      exclusive(fixed("192.0.2.1 subflow")),
			observed: eps("::ffff:192.0.2.1 id 1 subflow"),
			want:     reconcile.Plan{EndpointsAfter: 1},
		},
		{
			name:     "no id in the file: any id will do",
			cfg:      exclusive(fixed("192.0.2.1 subflow")),
			observed: eps("192.0.2.1 id 77 subflow"),
			want:     reconcile.Plan{EndpointsAfter: 1},
		},
		{
			name:     "only backup differs: one set-flags in place",
			cfg:      exclusive(fixed("192.0.2.1 subflow backup dev eth0")),
			observed: eps("192.0.2.1 id 5 subflow ifindex 2"),
			want: reconcile.Plan{EndpointsAfter: 1, Steps: []reconcile.Step{
				setFlags("192.0.2.1 id 5 subflow ifindex 2", "192.0.2.1 id 5 subflow backup ifindex 2", "eth0", "nobackup -> backup"),
			}},
		},
		{
			name:     "backup and fullmesh differ: still one set-flags",
			cfg:      exclusive(fixed("192.0.2.1 subflow")),
			observed: eps("192.0.2.1 id 1 subflow backup fullmesh"),
			want: reconcile.Plan{EndpointsAfter: 1, Steps: []reconcile.Step{
				setFlags("192.0.2.1 id 1 subflow backup fullmesh", "192.0.2.1 id 1 subflow", "", "backup -> nobackup, fullmesh -> nofullmesh"),
			}},
		},
		{
			name:     "port differs: replace",
			cfg:      exclusive(fixed("192.0.2.1 port 8080 signal")),
			observed: eps("192.0.2.1 id 3 signal"),
			want: reconcile.Plan{EndpointsAfter: 1, Steps: []reconcile.Step{
				replace("192.0.2.1 id 3 signal", "", "192.0.2.1 port 8080 signal", "", "port 0 -> 8080 forces replacement"),
			}},
		},
		{
			name:     "port differs and another port is installed too: replace one, delete the other",
			cfg:      exclusive(fixed("192.0.2.1 port 8080 signal")),
			observed: eps("192.0.2.1 id 2 signal", "192.0.2.1 port 9090 id 3 signal"),
			want: reconcile.Plan{EndpointsAfter: 1, Steps: []reconcile.Step{
				replace("192.0.2.1 id 2 signal", "", "192.0.2.1 port 8080 signal", "", "port 0 -> 8080 forces replacement"),
				del("192.0.2.1 port 9090 id 3 signal", "not in the file"),
			}},
		},
		{
			name:     "explicit id differs: replace",
			cfg:      exclusive(fixed("192.0.2.1 id 10 subflow")),
			observed: eps("192.0.2.1 id 3 subflow"),
			want: reconcile.Plan{EndpointsAfter: 1, Steps: []reconcile.Step{
				replace("192.0.2.1 id 3 subflow", "", "192.0.2.1 id 10 subflow", "", "id 3 -> 10 forces replacement"),
			}},
		},
		{
			name:     "device differs: replace",
			cfg:      exclusive(fixed("192.0.2.1 subflow dev eth0")),
			observed: eps("192.0.2.1 id 1 subflow", "192.0.2.2 id 2 subflow ifindex 3"),
			want: reconcile.Plan{EndpointsAfter: 1, Steps: []reconcile.Step{
				replace("192.0.2.1 id 1 subflow", "", "192.0.2.1 subflow ifindex 2", "eth0", "dev none -> eth0 forces replacement"),
				del("192.0.2.2 id 2 subflow ifindex 3", "not in the file", "eth1"),
			}},
		},
		{
			name:     "signal and subflow differ: replace, carrying the backup change",
			cfg:      exclusive(fixed("192.0.2.1 signal")),
			observed: eps("192.0.2.1 id 1 subflow backup"),
			want: reconcile.Plan{EndpointsAfter: 1, Steps: []reconcile.Step{
				replace("192.0.2.1 id 1 subflow backup", "", "192.0.2.1 signal", "", "nosignal -> signal, subflow -> nosubflow forces replacement"),
			}},
		},
		{
			name:     "laminar differs: replace",
			cfg:      exclusive(fixed("192.0.2.1 subflow laminar")),
			observed: eps("192.0.2.1 id 1 subflow"),
			want: reconcile.Plan{EndpointsAfter: 1, Steps: []reconcile.Step{
				replace("192.0.2.1 id 1 subflow", "", "192.0.2.1 subflow laminar", "", "nolaminar -> laminar forces replacement"),
			}},
		},
		{
			name:     "missing: add with the file's id, or the kernel's",
			cfg:      exclusive(fixed("192.0.2.1 subflow dev eth0"), fixed("192.0.2.2 id 20 signal")),
			observed: nil,
			want: reconcile.Plan{EndpointsAfter: 2, Steps: []reconcile.Step{
				add("192.0.2.2 id 20 signal", ""),
				add("192.0.2.1 subflow ifindex 2", "eth0"),
			}},
		},
	})
}

func TestPlanOwnership(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:     "exclusive: what the file does not describe goes, implicit endpoints stay",
			cfg:      exclusive(fixed("192.0.2.1 subflow")),
			observed: eps("192.0.2.1 id 1 subflow", "192.0.2.99 id 7 subflow", "203.0.113.5 id 9 implicit"),
			want: reconcile.Plan{EndpointsAfter: 2, Steps: []reconcile.Step{
				del("192.0.2.99 id 7 subflow", "not in the file"),
			}},
		},
		{
			name:     "exclusive with an empty endpoints list: no endpoints",
			cfg:      exclusive(),
			observed: eps("192.0.2.1 id 1 subflow", "192.0.2.2 id 2 signal"),
			want: reconcile.Plan{EndpointsAfter: 0, Steps: []reconcile.Step{
				del("192.0.2.1 id 1 subflow", "not in the file"),
				del("192.0.2.2 id 2 signal", "not in the file"),
			}},
		},
		{
			name:     "no endpoints section: endpoints are left alone",
			cfg:      &config.Config{Limits: &mptcp.LimitsUpdate{Subflows: u32(4)}, Ownership: config.Exclusive},
			observed: eps("192.0.2.1 id 1 subflow", "192.0.2.2 id 2 signal"),
			limits:   mptcp.Limits{Subflows: 2},
			want: reconcile.Plan{EndpointsAfter: 2, Steps: []reconcile.Step{
				{Kind: reconcile.SetLimits, Limits: mptcp.LimitsUpdate{Subflows: u32(4)}, LimitsFrom: mptcp.Limits{Subflows: 2}, Reason: "limits differ from the file"},
			}},
		},
		{
			name:     "nil config: nothing",
			cfg:      nil,
			observed: eps("192.0.2.1 id 1 subflow"),
			want:     reconcile.Plan{EndpointsAfter: 1},
		},
		{
			name: "shared: only mptcpd's own endpoints are touched",
			cfg: shared(
				fixed("192.0.2.1 subflow"),
				fixed("192.0.2.2 subflow"),
				fixed("192.0.2.3 subflow backup"),
			),
			owned: owned("192.0.2.9"),
			observed: eps(
				"192.0.2.9 id 1 subflow",  // mptcpd's, no longer in the file
				"192.0.2.10 id 2 subflow", // someone else's
				"192.0.2.2 id 3 subflow",  // someone else's, identical
				"192.0.2.3 id 4 subflow",  // someone else's, different
			),
			want: reconcile.Plan{
				EndpointsAfter: 4,
				Steps: []reconcile.Step{
					del("192.0.2.9 id 1 subflow", "not in the file"),
					add("192.0.2.1 subflow", ""),
				},
				Withheld: []reconcile.Withheld{
					{Entry: 1, Address: netip.MustParseAddr("192.0.2.2"), Reason: reconcile.ReasonForeign, Detail: "an identical endpoint exists (id 3), left to whoever created it"},
					{Entry: 2, Address: netip.MustParseAddr("192.0.2.3"), Reason: reconcile.ReasonForeign, Detail: "192.0.2.3 id 4 subflow exists"},
				},
			},
		},
		{
			name:     "shared: own endpoints are changed, foreign ones keep their flags",
			cfg:      shared(fixed("192.0.2.1 subflow backup")),
			owned:    owned("192.0.2.1"),
			observed: eps("192.0.2.1 id 1 subflow", "192.0.2.5 id 2 subflow backup"),
			want: reconcile.Plan{EndpointsAfter: 2, Steps: []reconcile.Step{
				setFlags("192.0.2.1 id 1 subflow", "192.0.2.1 id 1 subflow backup", "", "nobackup -> backup"),
			}},
		},
		{
			name: "shared: foreign endpoints take slots first",
			cfg:  shared(fixed("198.51.100.1 subflow"), fixed("2001:db8::1 subflow")),
			observed: eps("192.0.2.1 id 1 subflow", "192.0.2.2 id 2 subflow", "192.0.2.3 id 3 subflow", "192.0.2.4 id 4 subflow",
				"192.0.2.5 id 5 subflow", "192.0.2.6 id 6 subflow", "192.0.2.7 id 7 implicit"),
			want: reconcile.Plan{
				EndpointsAfter: 8,
				Steps:          []reconcile.Step{add("198.51.100.1 subflow", "")},
				Withheld: []reconcile.Withheld{
					{Entry: 1, Address: netip.MustParseAddr("2001:db8::1"), Reason: reconcile.ReasonNoSlot, Detail: "8 endpoints in use: 1 for the file's entries, 7 not created by mptcpd"},
				},
			},
		},
		{
			name:     "shared: an explicit id held by a foreign endpoint is withheld",
			cfg:      shared(fixed("192.0.2.1 id 2 subflow")),
			observed: eps("192.0.2.5 id 2 subflow"),
			want: reconcile.Plan{EndpointsAfter: 1, Withheld: []reconcile.Withheld{
				{Entry: 0, Address: netip.MustParseAddr("192.0.2.1"), Reason: reconcile.ReasonForeign, Detail: "id 2 is held by 192.0.2.5 id 2 subflow"},
			}},
		},
		{
			name:     "shared: an implicit endpoint whose id another entry wants is not taken over",
			cfg:      shared(fixed("198.51.100.1 id 4 subflow"), fixed("192.0.2.1 subflow")),
			observed: eps("192.0.2.1 id 4 implicit"),
			want: reconcile.Plan{EndpointsAfter: 1, Withheld: []reconcile.Withheld{
				{Entry: 0, Address: netip.MustParseAddr("198.51.100.1"), Reason: reconcile.ReasonForeign, Detail: "id 4 is held by 192.0.2.1 id 4 implicit"},
				{Entry: 1, Address: netip.MustParseAddr("192.0.2.1"), Reason: reconcile.ReasonForeign, Detail: "192.0.2.1 id 4 implicit exists, and its id is wanted by 198.51.100.1"},
			}},
		},
		{
			// Taken over, the implicit endpoint would be mptcpd's and lose
			// its slot to the earlier entries on the next run; so it is left
			// alone, and keeps its slot.
			name: "shared: a takeover competes for its slot in file order",
			cfg:  shared(fixed("198.51.100.1 subflow"), fixed("2001:db8::1 subflow"), fixed("192.0.2.8 subflow")),
			observed: eps("203.0.113.1 id 1 subflow", "203.0.113.2 id 2 subflow", "203.0.113.3 id 3 subflow",
				"203.0.113.4 id 4 subflow", "203.0.113.5 id 5 subflow", "203.0.113.6 id 6 subflow", "192.0.2.8 id 7 implicit"),
			want: reconcile.Plan{
				EndpointsAfter: 8,
				Steps:          []reconcile.Step{add("198.51.100.1 subflow", "")},
				Withheld: []reconcile.Withheld{
					{Entry: 1, Address: netip.MustParseAddr("2001:db8::1"), Reason: reconcile.ReasonNoSlot, Detail: "8 endpoints in use: 1 for the file's entries, 7 not created by mptcpd"},
					{Entry: 2, Address: netip.MustParseAddr("192.0.2.8"), Reason: reconcile.ReasonNoSlot, Detail: "8 endpoints in use: 1 for the file's entries, 7 not created by mptcpd"},
				},
			},
		},
		{
			name:     "shared: an implicit endpoint is taken over in place, never deleted",
			cfg:      shared(fixed("192.0.2.1 subflow"), fixed("192.0.2.2 id 9 subflow")),
			observed: eps("192.0.2.1 id 3 implicit", "192.0.2.2 id 4 implicit"),
			want: reconcile.Plan{
				EndpointsAfter: 2,
				Steps:          []reconcile.Step{takeover("192.0.2.1 id 3 implicit", "192.0.2.1 subflow", "")},
				Withheld: []reconcile.Withheld{
					{Entry: 1, Address: netip.MustParseAddr("192.0.2.2"), Reason: reconcile.ReasonForeign, Detail: "192.0.2.2 id 4 implicit exists"},
				},
			},
		},
	})
}

func TestPlanImplicitAndIDs(t *testing.T) {
	eth0With7 := with(host(), func(s *netstate.Snapshot) {
		s.Addrs = append(s.Addrs[:8], s.Addrs[9:]...) // drop 192.0.2.8
	})
	installed := func(n int) []string {
		var out []string
		for i := 1; i <= n; i++ {
			out = append(out, fmt.Sprintf("192.0.2.%d id %d subflow ifindex 2", i, i))
		}
		return out
	}
	runPlanCases(t, []planCase{
		{
			name:     "explicit id held by an endpoint that goes anyway: delete first",
			cfg:      exclusive(fixed("192.0.2.1 id 1 subflow")),
			observed: eps("192.0.2.9 id 1 subflow"),
			want: reconcile.Plan{EndpointsAfter: 1, Steps: []reconcile.Step{
				del("192.0.2.9 id 1 subflow", "not in the file"),
				add("192.0.2.1 id 1 subflow", ""),
			}},
		},
		{
			name:     "explicit id held by an endpoint wanted elsewhere without id: that one is re-added",
			cfg:      exclusive(fixed("192.0.2.1 id 1 subflow"), fixed("192.0.2.2 subflow")),
			observed: eps("192.0.2.2 id 1 subflow"),
			want: reconcile.Plan{EndpointsAfter: 2, Steps: []reconcile.Step{
				replace("192.0.2.2 id 1 subflow", "", "192.0.2.2 subflow", "", "id 1 is wanted by 192.0.2.1"),
				add("192.0.2.1 id 1 subflow", ""),
			}},
		},
		{
			name:     "explicit id held by a kept implicit endpoint: it is deleted",
			cfg:      exclusive(fixed("192.0.2.1 id 4 subflow")),
			observed: eps("203.0.113.1 id 4 implicit", "203.0.113.2 id 5 implicit"),
			want: reconcile.Plan{EndpointsAfter: 2, Steps: []reconcile.Step{
				del("203.0.113.1 id 4 implicit", "id 4 is wanted by 192.0.2.1"),
				add("192.0.2.1 id 4 subflow", ""),
			}},
		},
		{
			name:     "implicit endpoint at a wanted address: taken over in place",
			cfg:      exclusive(fixed("192.0.2.1 subflow backup")),
			observed: eps("192.0.2.1 id 4 implicit"),
			want: reconcile.Plan{EndpointsAfter: 1, Steps: []reconcile.Step{
				takeover("192.0.2.1 id 4 implicit", "192.0.2.1 subflow backup", ""),
			}},
		},
		{
			name:     "implicit endpoint with the wanted id: taken over without naming it",
			cfg:      exclusive(fixed("192.0.2.1 id 4 subflow")),
			observed: eps("192.0.2.1 id 4 implicit"),
			want: reconcile.Plan{EndpointsAfter: 1, Steps: []reconcile.Step{
				takeover("192.0.2.1 id 4 implicit", "192.0.2.1 subflow", ""),
			}},
		},
		{
			name:     "implicit endpoint, another id wanted: replace",
			cfg:      exclusive(fixed("192.0.2.1 id 10 subflow")),
			observed: eps("192.0.2.1 id 4 implicit"),
			want: reconcile.Plan{EndpointsAfter: 1, Steps: []reconcile.Step{
				replace("192.0.2.1 id 4 implicit", "", "192.0.2.1 id 10 subflow", "",
					"implicit endpoint, id 4 -> 10 forces replacement (the kernel takes one over only without an id)"),
			}},
		},
		{
			name:     "implicit endpoint whose id another entry wants, at a wanted address: replaced",
			cfg:      exclusive(fixed("192.0.2.1 id 4 subflow"), fixed("192.0.2.2 subflow")),
			observed: eps("192.0.2.2 id 4 implicit"),
			want: reconcile.Plan{EndpointsAfter: 2, Steps: []reconcile.Step{
				replace("192.0.2.2 id 4 implicit", "", "192.0.2.2 subflow", "", "id 4 is wanted by 192.0.2.1"),
				add("192.0.2.1 id 4 subflow", ""),
			}},
		},
		{
			name:     "implicit endpoint deleted when its slot is needed",
			cfg:      exclusive(iface("eth0", mptcp.FlagSubflow)),
			observed: eps("203.0.113.5 id 20 implicit"),
			want: reconcile.Plan{EndpointsAfter: 8, Steps: append([]reconcile.Step{
				del("203.0.113.5 id 20 implicit", "implicit endpoint, its slot is needed for the file's endpoints"),
			}, addsOnEth0(1, 8)...)},
		},
		{
			name:     "takeover on a full table: the taken-over endpoint is replaced",
			cfg:      exclusive(iface("eth0", mptcp.FlagSubflow)),
			observed: eps(append(installed(7), "192.0.2.8 id 8 implicit")...),
			want: reconcile.Plan{EndpointsAfter: 8, Steps: []reconcile.Step{
				replace("192.0.2.8 id 8 implicit", "", "192.0.2.8 subflow ifindex 2", "eth0", "table full, "+fullTable),
			}},
		},
		{
			name:     "takeover on a full table: an unwanted implicit endpoint makes room",
			cfg:      exclusive(iface("eth0", mptcp.FlagSubflow)),
			net:      eth0With7,
			observed: eps(append(installed(6), "192.0.2.7 id 7 implicit", "203.0.113.9 id 8 implicit")...),
			want: reconcile.Plan{EndpointsAfter: 7, Steps: []reconcile.Step{
				del("203.0.113.9 id 8 implicit", "implicit endpoint deleted to make room: "+fullTable),
				takeover("192.0.2.7 id 7 implicit", "192.0.2.7 subflow ifindex 2", "eth0"),
			}},
		},
		{
			name:     "shared, takeover on a full table of foreign endpoints: withheld",
			cfg:      shared(iface("eth0", mptcp.FlagSubflow)),
			owned:    owned("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6"),
			net:      eth0With7,
			observed: eps(append(installed(6), "192.0.2.7 id 7 implicit", "203.0.113.9 id 8 subflow")...),
			want: reconcile.Plan{EndpointsAfter: 8, Withheld: []reconcile.Withheld{
				{Entry: 0, Address: netip.MustParseAddr("192.0.2.7"), Dev: "eth0", Reason: reconcile.ReasonNoSlot, Detail: fullTable + ", and implicit endpoint id 7 was not created by mptcpd"},
			}},
		},
	})
}

// addsOnEth0 adds 192.0.2.FROM..TO as eth0's interface entry expands them.
func addsOnEth0(from, to int) []reconcile.Step {
	var out []reconcile.Step
	for i := from; i <= to; i++ {
		out = append(out, add(fmt.Sprintf("192.0.2.%d subflow ifindex 2", i), "eth0"))
	}
	return out
}

func TestPlanSlots(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name: "more usable endpoints than slots: file order decides",
			cfg:  exclusive(fixed("198.51.100.1 signal"), iface("eth0", mptcp.FlagSubflow)),
			want: reconcile.Plan{
				EndpointsAfter: 8,
				Steps:          append([]reconcile.Step{add("198.51.100.1 signal", "")}, addsOnEth0(1, 7)...),
				Withheld: []reconcile.Withheld{
					{Entry: 1, Address: netip.MustParseAddr("192.0.2.8"), Dev: "eth0", Reason: reconcile.ReasonNoSlot, Detail: "8 endpoints in use: 8 for the file's entries"},
				},
			},
		},
		{
			name: "an earlier entry becoming usable takes the slot of a later one",
			cfg:  exclusive(fixed("198.51.100.1 signal"), iface("eth0", mptcp.FlagSubflow)),
			observed: eps("192.0.2.1 id 1 subflow ifindex 2", "192.0.2.2 id 2 subflow ifindex 2", "192.0.2.3 id 3 subflow ifindex 2",
				"192.0.2.4 id 4 subflow ifindex 2", "192.0.2.5 id 5 subflow ifindex 2", "192.0.2.6 id 6 subflow ifindex 2",
				"192.0.2.7 id 7 subflow ifindex 2", "192.0.2.8 id 8 subflow ifindex 2"),
			want: reconcile.Plan{
				EndpointsAfter: 8,
				Steps: []reconcile.Step{
					del("192.0.2.8 id 8 subflow ifindex 2", reconcile.ReasonNoSlot, "eth0"),
					add("198.51.100.1 signal", ""),
				},
				Withheld: []reconcile.Withheld{
					{Entry: 1, Address: netip.MustParseAddr("192.0.2.8"), Dev: "eth0", Reason: reconcile.ReasonNoSlot, Detail: "8 endpoints in use: 8 for the file's entries"},
				},
			},
		},
	})
}

func TestPlanUsability(t *testing.T) {
	down := func(name string, admin, carrier bool) netstate.Snapshot {
		return with(host(), func(s *netstate.Snapshot) {
			for i := range s.Links {
				if s.Links[i].Name == name {
					s.Links[i].AdminUp, s.Links[i].LowerUp = admin, carrier
				}
			}
		})
	}
	v6state := func(tentative, dadFailed bool) netstate.Snapshot {
		return with(host(), func(s *netstate.Snapshot) {
			for i := range s.Addrs {
				if s.Addrs[i].Addr == netip.MustParseAddr("2001:db8::1") {
					s.Addrs[i].Tentative, s.Addrs[i].DADFailed = tentative, dadFailed
				}
			}
		})
	}
	a := netip.MustParseAddr
	runPlanCases(t, []planCase{
		{
			name: "device missing",
			cfg:  exclusive(fixed("192.0.2.1 subflow dev eth9")),
			want: reconcile.Plan{Withheld: []reconcile.Withheld{{Address: a("192.0.2.1"), Dev: "eth9", Reason: reconcile.ReasonDeviceMissing, Detail: "no device eth9"}}},
		},
		{
			name: "link administratively down",
			cfg:  exclusive(fixed("192.0.2.1 subflow dev eth0")),
			net:  down("eth0", false, false),
			want: reconcile.Plan{Withheld: []reconcile.Withheld{{Address: a("192.0.2.1"), Dev: "eth0", Reason: reconcile.ReasonLinkDown, Detail: "eth0 is down"}}},
		},
		{
			name:     "link without carrier: an installed endpoint is withdrawn",
			cfg:      exclusive(fixed("192.0.2.1 subflow dev eth0")),
			net:      down("eth0", true, false),
			observed: eps("192.0.2.1 id 1 subflow ifindex 2"),
			want: reconcile.Plan{
				Steps:    []reconcile.Step{del("192.0.2.1 id 1 subflow ifindex 2", reconcile.ReasonLinkDown, "eth0")},
				Withheld: []reconcile.Withheld{{Address: a("192.0.2.1"), Dev: "eth0", Reason: reconcile.ReasonLinkDown, Detail: "eth0 has no carrier"}},
			},
		},
		{
			name: "address not on the named device",
			cfg:  exclusive(fixed("198.51.100.1 subflow dev eth0")),
			want: reconcile.Plan{Withheld: []reconcile.Withheld{{Address: a("198.51.100.1"), Dev: "eth0", Reason: reconcile.ReasonNotAssigned, Detail: "not on eth0"}}},
		},
		{
			name: "address on no link",
			cfg:  exclusive(fixed("203.0.113.1 subflow")),
			want: reconcile.Plan{Withheld: []reconcile.Withheld{{Address: a("203.0.113.1"), Reason: reconcile.ReasonNotAssigned, Detail: "not on any link"}}},
		},
		{
			name: "without dev, on a link that is down",
			cfg:  exclusive(fixed("192.0.2.1 subflow")),
			net:  down("eth0", false, true),
			want: reconcile.Plan{Withheld: []reconcile.Withheld{{Address: a("192.0.2.1"), Reason: reconcile.ReasonLinkDown, Detail: "eth0 is down"}}},
		},
		{
			name: "without dev, on a down link and a usable one: usable, unbound",
			cfg:  exclusive(fixed("192.0.2.1 subflow")),
			net: with(down("eth0", false, false), func(s *netstate.Snapshot) {
				s.Addrs = append(s.Addrs, addrOn(4, "192.0.2.1"))
			}),
			want: reconcile.Plan{EndpointsAfter: 1, Steps: []reconcile.Step{add("192.0.2.1 subflow", "")}},
		},
		{
			name: "a port cannot listen on an IPv6 link-local address",
			cfg:  exclusive(fixed("fe80::1 port 443 signal dev eth1")),
			net:  with(host(), func(s *netstate.Snapshot) { s.Addrs = append(s.Addrs, addrOn(3, "fe80::1")) }),
			want: reconcile.Plan{Withheld: []reconcile.Withheld{{Address: a("fe80::1"), Port: 443, Dev: "eth1", Reason: reconcile.ReasonNoListener, Detail: "the kernel's listening socket cannot bind it (EINVAL)"}}},
		},
		{
			name: "tentative (DAD running)",
			cfg:  exclusive(fixed("2001:db8::1 subflow dev eth1")),
			net:  v6state(true, false),
			want: reconcile.Plan{Withheld: []reconcile.Withheld{{Address: a("2001:db8::1"), Dev: "eth1", Reason: reconcile.ReasonTentative, Detail: "on eth1"}}},
		},
		{
			name: "duplicate address detected (the tentative flag stays set)",
			cfg:  exclusive(fixed("2001:db8::1 subflow")),
			net:  v6state(true, true),
			want: reconcile.Plan{Withheld: []reconcile.Withheld{{Address: a("2001:db8::1"), Reason: reconcile.ReasonDADFailed, Detail: "on eth1"}}},
		},
	})
}

func TestPlanInterfaceEntries(t *testing.T) {
	wlan := func(addrs ...netstate.Address) netstate.Snapshot {
		return with(host(), func(s *netstate.Snapshot) { s.Addrs = append(s.Addrs, addrs...) })
	}
	flagged := func(a string, change func(*netstate.Address)) netstate.Address {
		x := addrOn(4, a)
		change(&x)
		return x
	}
	mixed := wlan(
		addrOn(4, "10.0.0.5"),
		addrOn(4, "10.0.0.2"),
		flagged("169.254.3.3", func(a *netstate.Address) { a.Scope = 253 }),
		flagged("fe80::1", func(a *netstate.Address) { a.Scope = 253 }),
		addrOn(4, "fd00::5"),
		flagged("2001:db8:1::7", func(a *netstate.Address) { a.Temporary = true }),
		flagged("2001:db8:1::9", func(a *netstate.Address) { a.Deprecated = true }),
		flagged("2001:db8:1::8", func(a *netstate.Address) { a.Tentative = true }),
		addrOn(4, "10.0.0.2"), // listed twice
	)
	a := netip.MustParseAddr
	optIn := iface("wlan0", mptcp.FlagSubflow)
	optIn.IncludeLinkLocal, optIn.IncludeULA, optIn.IncludeTemporary = true, true, true
	v4 := iface("wlan0", mptcp.FlagSubflow)
	v4.Family = config.FamilyIPv4
	v6 := iface("wlan0", mptcp.FlagSignal)
	v6.Family = config.FamilyIPv6
	runPlanCases(t, []planCase{
		{
			name: "usable addresses, sorted, bound to the interface; deprecated ones included",
			cfg:  exclusive(iface("wlan0", mptcp.FlagSubflow)),
			net:  mixed,
			want: reconcile.Plan{
				EndpointsAfter: 3,
				Steps: []reconcile.Step{
					add("10.0.0.2 subflow ifindex 4", "wlan0"),
					add("10.0.0.5 subflow ifindex 4", "wlan0"),
					add("2001:db8:1::9 subflow ifindex 4", "wlan0"),
				},
				Withheld: []reconcile.Withheld{{Address: a("2001:db8:1::8"), Dev: "wlan0", Reason: reconcile.ReasonTentative, Detail: "on wlan0"}},
			},
		},
		{
			name: "opt-ins: link-local, ULA and temporary addresses",
			cfg:  exclusive(optIn),
			net:  mixed,
			want: reconcile.Plan{
				EndpointsAfter: 7,
				Steps: []reconcile.Step{
					add("10.0.0.2 subflow ifindex 4", "wlan0"),
					add("10.0.0.5 subflow ifindex 4", "wlan0"),
					add("169.254.3.3 subflow ifindex 4", "wlan0"),
					add("2001:db8:1::7 subflow ifindex 4", "wlan0"),
					add("2001:db8:1::9 subflow ifindex 4", "wlan0"),
					add("fd00::5 subflow ifindex 4", "wlan0"),
					add("fe80::1 subflow ifindex 4", "wlan0"),
				},
				Withheld: []reconcile.Withheld{{Address: a("2001:db8:1::8"), Dev: "wlan0", Reason: reconcile.ReasonTentative, Detail: "on wlan0"}},
			},
		},
		{
			name: "family filters",
			cfg:  exclusive(v4, v6),
			net:  mixed,
			want: reconcile.Plan{
				EndpointsAfter: 3,
				Steps: []reconcile.Step{
					add("10.0.0.2 subflow ifindex 4", "wlan0"),
					add("10.0.0.5 subflow ifindex 4", "wlan0"),
					add("2001:db8:1::9 signal ifindex 4", "wlan0"),
				},
				Withheld: []reconcile.Withheld{{Entry: 1, Address: a("2001:db8:1::8"), Dev: "wlan0", Reason: reconcile.ReasonTentative, Detail: "on wlan0"}},
			},
		},
		{
			name: "loopback addresses are never expanded",
			cfg:  exclusive(iface("lo", mptcp.FlagSubflow)),
			net:  with(host(), func(s *netstate.Snapshot) { s.Addrs = append(s.Addrs, addrOn(1, "::1")) }),
			want: reconcile.Plan{},
		},
		{
			name:     "interface missing or down: the whole entry is withheld and its endpoints withdrawn",
			cfg:      exclusive(iface("wlan9", mptcp.FlagSubflow), iface("wlan0", mptcp.FlagSubflow)),
			net:      with(wlan(addrOn(4, "10.0.0.2")), func(s *netstate.Snapshot) { s.Links[3].LowerUp = false }),
			observed: eps("10.0.0.2 id 1 subflow ifindex 4"),
			want: reconcile.Plan{
				Steps: []reconcile.Step{del("10.0.0.2 id 1 subflow ifindex 4", reconcile.ReasonLinkDown, "wlan0")},
				Withheld: []reconcile.Withheld{
					{Entry: 0, Dev: "wlan9", Reason: reconcile.ReasonDeviceMissing, Detail: "no device wlan9"},
					{Entry: 1, Dev: "wlan0", Reason: reconcile.ReasonLinkDown, Detail: "wlan0 has no carrier"},
				},
			},
		},
		{
			name: "an address claimed by a fixed entry first",
			cfg:  exclusive(fixed("192.0.2.1 id 9 signal"), iface("eth0", mptcp.FlagSubflow)),
			want: reconcile.Plan{
				EndpointsAfter: 8,
				Steps:          append([]reconcile.Step{add("192.0.2.1 id 9 signal", "")}, addsOnEth0(2, 8)...),
				Withheld: []reconcile.Withheld{
					{Entry: 1, Address: a("192.0.2.1"), Dev: "eth0", Reason: reconcile.ReasonClaimed, Detail: "entry 1"},
				},
			},
		},
		{
			name: "an address claimed by an interface entry first",
			cfg:  exclusive(iface("eth1", mptcp.FlagSubflow), fixed("198.51.100.1 id 9 signal")),
			want: reconcile.Plan{
				EndpointsAfter: 2,
				Steps:          []reconcile.Step{add("198.51.100.1 subflow ifindex 3", "eth1"), add("2001:db8::1 subflow ifindex 3", "eth1")},
				Withheld: []reconcile.Withheld{
					{Entry: 1, Address: a("198.51.100.1"), Reason: reconcile.ReasonClaimed, Detail: "entry 1"},
				},
			},
		},
	})
}

func TestPlanOrderLimitsSysctls(t *testing.T) {
	cfg := exclusive(
		fixed("192.0.2.1 subflow"),          // kernel-chosen add
		fixed("192.0.2.2 subflow backup"),   // set flags
		fixed("192.0.2.3 subflow"),          // takeover
		fixed("192.0.2.4 id 30 subflow"),    // explicit add
		fixed("192.0.2.5 port 5000 signal"), // replace
	)
	cfg.Limits = &mptcp.LimitsUpdate{Subflows: u32(4), AddAddrAccepted: u32(2)}
	cfg.Sysctls = []config.Sysctl{{Name: "enabled", Value: "1"}, {Name: "path_manager", Value: "kernel"}, {Name: "scheduler", Value: "default"}}
	runPlanCases(t, []planCase{{
		name:     "deletes, flag changes, adds (takeovers, explicit ids, kernel ids), limits, sysctls",
		cfg:      cfg,
		observed: eps("192.0.2.2 id 1 subflow", "192.0.2.3 id 2 implicit", "192.0.2.5 id 3 signal", "192.0.2.9 id 4 subflow"),
		limits:   mptcp.Limits{Subflows: 2, AddAddrAccepted: 2},
		sysctls:  map[string]string{"enabled": "1\n", "path_manager": "userspace\n"},
		want: reconcile.Plan{EndpointsAfter: 5, Steps: []reconcile.Step{
			replace("192.0.2.5 id 3 signal", "", "192.0.2.5 port 5000 signal", "", "port 0 -> 5000 forces replacement"),
			del("192.0.2.9 id 4 subflow", "not in the file"),
			setFlags("192.0.2.2 id 1 subflow", "192.0.2.2 id 1 subflow backup", "", "nobackup -> backup"),
			takeover("192.0.2.3 id 2 implicit", "192.0.2.3 subflow", ""),
			add("192.0.2.4 id 30 subflow", ""),
			add("192.0.2.1 subflow", ""),
			{Kind: reconcile.SetLimits, Limits: mptcp.LimitsUpdate{Subflows: u32(4)}, LimitsFrom: mptcp.Limits{Subflows: 2, AddAddrAccepted: 2}, Reason: "limits differ from the file"},
			{Kind: reconcile.SetSysctl, Sysctl: "path_manager", Value: "kernel", OldValue: "userspace", Reason: "value differs from the file"},
			{Kind: reconcile.SetSysctl, Sysctl: "scheduler", Value: "default", Reason: "current value unknown"},
		}},
	}, {
		name:    "limits and sysctls already right",
		cfg:     &config.Config{Limits: &mptcp.LimitsUpdate{Subflows: u32(2)}, Sysctls: []config.Sysctl{{Name: "add_addr_timeout", Value: "120"}}},
		limits:  mptcp.Limits{Subflows: 2, AddAddrAccepted: 7},
		sysctls: map[string]string{"add_addr_timeout": " 120\n"},
		want:    reconcile.Plan{},
	}})
}

// TestPlanDeterministic checks that the order in which the host and the
// kernel list things does not change the plan.
func TestPlanDeterministic(t *testing.T) {
	cfg := exclusive(iface("eth0", mptcp.FlagSubflow), fixed("198.51.100.1 id 3 signal"))
	net := host()
	observed := eps("192.0.2.3 id 3 subflow ifindex 2", "192.0.2.1 id 1 subflow", "203.0.113.1 id 9 implicit", "192.0.2.2 id 2 subflow ifindex 2")
	want := reconcile.NewPlan(reconcile.Desired{Config: cfg, Net: net}, reconcile.Observed{Endpoints: observed})
	for i := range 20 {
		n := net
		n.Addrs = append([]netstate.Address(nil), net.Addrs...)
		o := append([]mptcp.Endpoint(nil), observed...)
		// A deterministic shuffle, different each round.
		for j := len(n.Addrs) - 1; j > 0; j-- {
			k := (i*7 + j*13) % (j + 1)
			n.Addrs[j], n.Addrs[k] = n.Addrs[k], n.Addrs[j]
		}
		for j := len(o) - 1; j > 0; j-- {
			k := (i*5 + j*3) % (j + 1)
			o[j], o[k] = o[k], o[j]
		}
		got := reconcile.NewPlan(reconcile.Desired{Config: cfg, Net: n}, reconcile.Observed{Endpoints: o})
		if diff := cmp.Diff(want, got, cmpAddr); diff != "" {
			t.Fatalf("round %d: plan depends on input order (-want +got):\n%s", i, diff)
		}
	}
	if want.Empty() {
		t.Fatal("the plan under test should not be empty")
	}
}

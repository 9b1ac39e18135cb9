package daemon

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/mptcpd/mptcpd/internal/runner"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/reconcile"
)

func TestDriftOnly(t *testing.T) {
	tests := []struct {
		reasons []string
		want    bool
	}{
		{[]string{runner.ReasonResync}, true},
		{[]string{runner.ReasonResync, runner.ReasonResync}, true},
		{nil, false},
		{[]string{"start"}, false},
		{[]string{runner.ReasonRetry}, false},
		{[]string{runner.ReasonResync, "link new 3 eth1 up lower-up"}, false},
		{[]string{"config file changed", runner.ReasonResync}, false},
	}
	for _, tt := range tests {
		if got := driftOnly(tt.reasons); got != tt.want {
			t.Errorf("driftOnly(%q) = %v, want %v", tt.reasons, got, tt.want)
		}
	}
}

// TestHoldCountsOnlyDrift: a step needed again and again because links
// come and go is no fight; the same step needed again by drift runs is,
// and its backoff then holds in every kind of run.
func TestHoldCountsOnlyDrift(t *testing.T) {
	fights, err := runner.NewFightDetector(runner.FightOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{log: zap.NewNop(), fights: fights, culprits: map[string]string{}}
	add := reconcile.Step{Kind: reconcile.Add, To: mptcp.Endpoint{Addr: netip.MustParseAddr("192.0.2.1"), Flags: mptcp.FlagSubflow}}
	key := fightKey(add)
	d.culprits[key] = "test" // known, so that no namespace is searched
	plan := reconcile.Plan{Steps: []reconcile.Step{add}}

	applied := func(p reconcile.Plan) int { return len(p.Steps) }
	// Link events: applied every time, never a fight.
	for i := range 2 * runner.DefaultFightThreshold {
		if got := applied(d.hold(plan, false)); got != 1 {
			t.Fatalf("event run %d: %d steps applied, want 1", i+1, got)
		}
	}
	if got := fights.Fights(); len(got) != 0 {
		t.Fatalf("event runs made a fight: %+v", got)
	}

	// Drift runs: the threshold's worth is applied, the next is held.
	var got []int
	for range runner.DefaultFightThreshold + 1 {
		got = append(got, applied(d.hold(plan, true)))
	}
	want := make([]int, runner.DefaultFightThreshold+1)
	for i := range runner.DefaultFightThreshold {
		want[i] = 1
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps applied by drift runs (-want +got):\n%s", diff)
	}
	// The backoff holds in event runs too.
	if got := applied(d.hold(plan, false)); got != 0 {
		t.Errorf("an event run applied a step under backoff")
	}
}

// TestDropDependentAdds: with the delete of a foreign endpoint held back,
// the add that needed its id and the add that needed its slot are held
// too; an add with a free id and slot, a takeover and other steps stay.
func TestDropDependentAdds(t *testing.T) {
	ep := func(id uint8, addr string) mptcp.Endpoint {
		return mptcp.Endpoint{ID: id, Addr: netip.MustParseAddr(addr), Flags: mptcp.FlagSubflow}
	}
	del := reconcile.Step{Kind: reconcile.Delete, From: ep(3, "192.0.2.3")}
	delOther := reconcile.Step{Kind: reconcile.Delete, From: ep(4, "192.0.2.4")}
	addSameID := reconcile.Step{Kind: reconcile.Add, To: ep(3, "192.0.2.30")}
	addFree := reconcile.Step{Kind: reconcile.Add, To: ep(0, "192.0.2.31")}
	addNeedsSlot := reconcile.Step{Kind: reconcile.Add, To: ep(0, "192.0.2.32")}
	takeover := reconcile.Step{Kind: reconcile.Add, From: mptcp.Endpoint{ID: 9, Addr: netip.MustParseAddr("192.0.2.9"), Flags: mptcp.FlagImplicit}, To: ep(0, "192.0.2.9")}
	limits := reconcile.Step{Kind: reconcile.SetLimits}
	addrs := cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

	// A full table: two deletes make room for two adds.
	p := reconcile.Plan{EndpointsBefore: 8, Steps: []reconcile.Step{del, delOther, takeover, addFree, addNeedsSlot, limits}}
	if diff := cmp.Diff(p.Steps, dropDependentAdds(p, p.Steps), addrs); diff != "" {
		t.Errorf("nothing held: steps changed (-want +got):\n%s", diff)
	}
	// The delete of id 3 is held: one slot fewer is free, so the last add
	// waits; the takeover needs no slot.
	got := dropDependentAdds(p, []reconcile.Step{delOther, takeover, addFree, addNeedsSlot, limits})
	if diff := cmp.Diff([]reconcile.Step{delOther, takeover, addFree, limits}, got, addrs); diff != "" {
		t.Errorf("delete of id 3 held, full table (-want +got):\n%s", diff)
	}
	// Room enough, but an add wants the held endpoint's id.
	p = reconcile.Plan{EndpointsBefore: 4, Steps: []reconcile.Step{del, addSameID, addFree}}
	got = dropDependentAdds(p, []reconcile.Step{addSameID, addFree})
	if diff := cmp.Diff([]reconcile.Step{addFree}, got, addrs); diff != "" {
		t.Errorf("delete of id 3 held, its id wanted (-want +got):\n%s", diff)
	}
}

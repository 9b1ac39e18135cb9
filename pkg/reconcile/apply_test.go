package reconcile_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/pkg/config"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/pm"
	"github.com/mptcpd/mptcpd/pkg/reconcile"
	"github.com/mptcpd/mptcpd/pkg/reconcile/fakekernel"
)

// kernelWith returns a fake holding the given endpoints (each with its id;
// implicit ones are injected as a connection would make them, so list them
// where the kernel's allocator gives them their id).
func kernelWith(t *testing.T, specs ...string) *fakekernel.Kernel {
	t.Helper()
	k := fakekernel.New()
	for _, s := range specs {
		e := ep(s)
		if e.Flags&mptcp.FlagImplicit != 0 {
			id, err := k.InjectImplicit(e.Addr)
			if err != nil || id != e.ID {
				t.Fatalf("inject implicit %s: got id %d, %v", s, id, err)
			}
			continue
		}
		if _, err := k.AddEndpoint(e); err != nil {
			t.Fatalf("add %s: %v", s, err)
		}
	}
	return k
}

func observe(t *testing.T, k *fakekernel.Kernel, names ...string) reconcile.Observed {
	t.Helper()
	eps, err := k.Endpoints()
	if err != nil {
		t.Fatal(err)
	}
	l, err := k.Limits()
	if err != nil {
		t.Fatal(err)
	}
	return reconcile.Observed{Endpoints: eps, Limits: l, Sysctls: k.Sysctls(names...)}
}

func table(t *testing.T, k *fakekernel.Kernel) []mptcp.Endpoint {
	t.Helper()
	eps, err := k.Endpoints()
	if err != nil {
		t.Fatal(err)
	}
	return eps
}

func TestApplyRunsThePlan(t *testing.T) {
	cfg := exclusive(
		fixed("192.0.2.1 subflow"),
		fixed("192.0.2.2 subflow backup"),
		fixed("192.0.2.3 subflow"),
		fixed("192.0.2.4 id 30 subflow"),
		fixed("192.0.2.5 port 5000 signal"),
	)
	cfg.Limits = &mptcp.LimitsUpdate{Subflows: u32(4)}
	cfg.Sysctls = []config.Sysctl{{Name: "scheduler", Value: "default"}, {Name: "enabled", Value: "0"}}
	k := kernelWith(t, "192.0.2.2 id 1 subflow", "192.0.2.3 id 2 implicit", "192.0.2.5 id 3 signal", "192.0.2.9 id 4 subflow")
	d := reconcile.Desired{Config: cfg, Net: host()}
	p := reconcile.NewPlan(d, observe(t, k, "scheduler", "enabled"))

	res, err := reconcile.Apply(k, p)
	if err != nil {
		t.Fatalf("Apply: %v\nplan:\n%s", err, p)
	}
	// Steps: 0 replace .5, 1 delete .9, 2 set flags .2, 3 takeover .3,
	// 4 add .4 id 30, 5 add .1, 6 limits, 7 sysctl enabled.
	wantDone := []reconcile.Done{
		{Step: 0, Op: reconcile.OpDelete, Endpoint: ep("192.0.2.5 id 3 signal")},
		{Step: 1, Op: reconcile.OpDelete, Endpoint: ep("192.0.2.9 id 4 subflow")},
		{Step: 2, Op: reconcile.OpSetFlags, Endpoint: ep("192.0.2.2 id 1 subflow backup")},
		{Step: 3, Op: reconcile.OpAdd, Endpoint: ep("192.0.2.3 id 2 subflow")},
		{Step: 4, Op: reconcile.OpAdd, Endpoint: ep("192.0.2.4 id 30 subflow")},
		{Step: 0, Op: reconcile.OpAdd, Endpoint: ep("192.0.2.5 port 5000 id 31 signal")},
		{Step: 5, Op: reconcile.OpAdd, Endpoint: ep("192.0.2.1 id 32 subflow")},
		{Step: 6, Op: reconcile.OpSetLimits},
		{Step: 7, Op: reconcile.OpSetSysctl},
	}
	if diff := cmp.Diff(wantDone, res.Done, cmpAddr); diff != "" {
		t.Errorf("Done (-want +got):\n%s\nplan:\n%s", diff, p)
	}
	wantTable := eps("192.0.2.2 id 1 subflow backup", "192.0.2.3 id 2 subflow", "192.0.2.4 id 30 subflow",
		"192.0.2.5 port 5000 id 31 signal", "192.0.2.1 id 32 subflow")
	if diff := cmp.Diff(wantTable, table(t, k), cmpAddr); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
	if l, _ := k.Limits(); l.Subflows != 4 {
		t.Errorf("subflows = %d, want 4", l.Subflows)
	}
	if got := k.Sysctls("enabled")["enabled"]; got != "0" {
		t.Errorf("enabled = %q, want 0", got)
	}
	if again := reconcile.NewPlan(d, observe(t, k, "scheduler", "enabled")); !again.Empty() {
		t.Errorf("planning again gave:\n%s", again)
	}
}

func TestApplyBestEffort(t *testing.T) {
	errIO := unix.EIO
	tests := []struct {
		name string
		cfg  *config.Config
		have []string
		// failDelete makes the delete of this id fail.
		failDelete uint8
		failAdd    string
		wantTable  []mptcp.Endpoint
		// wantErrs are the ops of the failed steps, in order; skipped
		// ones are marked with a "skipped " prefix.
		wantErrs []string
	}{
		{
			name:       "a replacement whose delete failed does not add",
			cfg:        exclusive(fixed("192.0.2.1 port 80 signal"), fixed("192.0.2.2 subflow")),
			have:       []string{"192.0.2.1 id 1 signal"},
			failDelete: 1,
			wantTable:  eps("192.0.2.1 id 1 signal", "192.0.2.2 id 2 subflow"),
			wantErrs:   []string{"delete", "skipped add"},
		},
		{
			name: "an add that needs the slot of a failed delete is skipped",
			cfg: exclusive(fixed("192.0.2.1 subflow"), fixed("192.0.2.2 subflow"), fixed("192.0.2.3 subflow"), fixed("192.0.2.4 subflow"),
				fixed("192.0.2.5 subflow"), fixed("192.0.2.6 subflow"), fixed("192.0.2.7 subflow"), fixed("198.51.100.1 subflow")),
			have: []string{"192.0.2.1 id 1 subflow", "192.0.2.2 id 2 subflow", "192.0.2.3 id 3 subflow", "192.0.2.4 id 4 subflow",
				"192.0.2.5 id 5 subflow", "192.0.2.6 id 6 subflow", "192.0.2.7 id 7 subflow", "203.0.113.1 id 8 subflow"},
			failDelete: 8,
			wantTable: eps("192.0.2.1 id 1 subflow", "192.0.2.2 id 2 subflow", "192.0.2.3 id 3 subflow", "192.0.2.4 id 4 subflow",
				"192.0.2.5 id 5 subflow", "192.0.2.6 id 6 subflow", "192.0.2.7 id 7 subflow", "203.0.113.1 id 8 subflow"),
			wantErrs: []string{"delete", "skipped add"},
		},
		{
			name:       "an add whose id a failed delete was to free is skipped",
			cfg:        exclusive(fixed("192.0.2.1 id 5 subflow"), fixed("192.0.2.2 subflow")),
			have:       []string{"203.0.113.1 id 5 subflow"},
			failDelete: 5,
			wantTable:  eps("203.0.113.1 id 5 subflow", "192.0.2.2 id 6 subflow"),
			wantErrs:   []string{"delete", "skipped add"},
		},
		{
			// The reviewer's case: the replace's delete fails, so its
			// endpoint keeps id 3, which another entry wants.
			name:       "an add whose id a failed replacement was to free is skipped",
			cfg:        exclusive(fixed("192.0.2.1 port 80 signal"), fixed("192.0.2.2 id 3 subflow")),
			have:       []string{"192.0.2.1 id 3 signal"},
			failDelete: 3,
			wantTable:  eps("192.0.2.1 id 3 signal"),
			wantErrs:   []string{"delete", "skipped add", "skipped add"},
		},
		{
			name:      "a failed add does not stop the others",
			cfg:       exclusive(fixed("192.0.2.1 subflow"), fixed("192.0.2.2 subflow"), fixed("192.0.2.3 subflow")),
			failAdd:   "192.0.2.2",
			wantTable: eps("192.0.2.1 id 1 subflow", "192.0.2.3 id 2 subflow"),
			wantErrs:  []string{"add"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := kernelWith(t, tt.have...)
			p := reconcile.NewPlan(reconcile.Desired{Config: tt.cfg, Net: host()}, observe(t, k))
			k.SetFailure(func(c fakekernel.Call) error {
				if c.Op == "delete" && c.Endpoint.ID == tt.failDelete {
					return errIO
				}
				if c.Op == "add" && c.Endpoint.Addr.String() == tt.failAdd {
					return errIO
				}
				return nil
			})
			_, err := reconcile.Apply(k, p)
			if diff := cmp.Diff(tt.wantTable, table(t, k), cmpAddr); diff != "" {
				t.Errorf("endpoints (-want +got):\n%s\nplan:\n%s", diff, p)
			}
			var got []string
			for _, e := range unjoin(err) {
				var se *reconcile.StepError
				if !errors.As(e, &se) {
					t.Fatalf("error %v is not a *StepError", e)
				}
				op := string(se.Op)
				if errors.Is(e, reconcile.ErrSkipped) {
					op = "skipped " + op
				} else {
					var pe *pm.Error
					if !errors.As(e, &pe) || !errors.Is(e, unix.EIO) {
						t.Errorf("error %v does not keep the kernel's *pm.Error and errno", e)
					}
				}
				got = append(got, op)
			}
			if diff := cmp.Diff(tt.wantErrs, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nerr: %v", diff, err)
			}
		})
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// recorder is a Kernel that records what it is asked.
type recorder struct {
	calls []string
}

func (r *recorder) AddEndpoint(e mptcp.Endpoint) (mptcp.Endpoint, error) {
	r.calls = append(r.calls, "add "+e.String())
	if e.ID == 0 {
		e.ID = 42
	}
	return e, nil
}
func (r *recorder) DeleteEndpoint(id uint8) error {
	r.calls = append(r.calls, "delete "+mptcp.Endpoint{ID: id}.String())
	return nil
}
func (r *recorder) SetFlags(e mptcp.Endpoint) error {
	r.calls = append(r.calls, "flags "+e.String())
	return nil
}
func (r *recorder) SetLimits(u mptcp.LimitsUpdate) error {
	r.calls = append(r.calls, "limits")
	return nil
}

func TestNewKernelJoinsPathManagerAndSysctls(t *testing.T) {
	rec := &recorder{}
	var written []string
	k := reconcile.NewKernel(rec, reconcile.SysctlWriterFunc(func(name, value string) error {
		written = append(written, name+"="+value)
		return nil
	}))
	p := reconcile.Plan{Steps: []reconcile.Step{
		{Kind: reconcile.SetSysctl, Sysctl: "enabled", Value: "1"},
		{Kind: reconcile.SetLimits, Limits: mptcp.LimitsUpdate{Subflows: u32(3)}},
		add("192.0.2.1 subflow", ""),
	}}
	res, err := reconcile.Apply(k, p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"add 192.0.2.1 subflow", "limits"}, rec.calls); diff != "" {
		t.Errorf("path manager calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"enabled=1"}, written); diff != "" {
		t.Errorf("sysctl writes (-want +got):\n%s", diff)
	}
	if got := res.Added(); len(got) != 1 || got[0].ID != 42 {
		t.Errorf("Added() = %v, want the endpoint with the kernel's id 42", got)
	}
}

func TestOwnedSetFollowsApply(t *testing.T) {
	// Shared ownership: mptcpd made 192.0.2.9 and 192.0.2.1 (port 0); the
	// file now wants 192.0.2.1 on port 80 and 192.0.2.2.
	cfg := shared(fixed("192.0.2.1 port 80 signal"), fixed("192.0.2.2 subflow"))
	k := kernelWith(t, "192.0.2.1 id 1 signal", "192.0.2.9 id 2 subflow", "203.0.113.7 id 3 subflow")
	own := owned("192.0.2.1", "192.0.2.9", "203.0.113.99") // the last one is gone from the kernel
	d := reconcile.Desired{Config: cfg, Net: host(), Owned: own}
	p := reconcile.NewPlan(d, observe(t, k))
	res, err := reconcile.Apply(k, p)
	if err != nil {
		t.Fatal(err)
	}
	got := own.Record(res).Retain(table(t, k)).Keys()
	want := reconcile.OwnedSet{}
	for _, s := range []string{"192.0.2.1 port 80", "192.0.2.2"} {
		want[reconcile.KeyOf(ep(s))] = struct{}{}
	}
	if diff := cmp.Diff(want.Keys(), got, cmpAddr); diff != "" {
		t.Errorf("owned (-want +got):\n%s", diff)
	}
	if !slices.ContainsFunc(table(t, k), func(e mptcp.Endpoint) bool { return e.Addr.String() == "203.0.113.7" }) {
		t.Error("the foreign endpoint is gone")
	}
	d.Owned = own.Record(res)
	if again := reconcile.NewPlan(d, observe(t, k)); !again.Empty() {
		t.Errorf("planning again gave:\n%s", again)
	}
}

// notReadBack adds like the kernel but reports the read-back as failed.
type notReadBack struct{ recorder }

func (n *notReadBack) AddEndpoint(e mptcp.Endpoint) (mptcp.Endpoint, error) {
	got, _ := n.recorder.AddEndpoint(e)
	return got, fmt.Errorf("add endpoint %s: %w: EIO", e, mptcp.ErrAddedNotReadBack)
}

// TestApplyRecordsAnAddNotReadBack: an add the kernel made but that could
// not be read back is reported and still recorded as done, so the memory of
// created endpoints keeps it.
func TestApplyRecordsAnAddNotReadBack(t *testing.T) {
	k := &notReadBack{}
	p := reconcile.NewPlan(reconcile.Desired{Config: shared(fixed("192.0.2.1 subflow")), Net: host()}, reconcile.Observed{})
	res, err := reconcile.Apply(reconcile.NewKernel(k, reconcile.SysctlWriterFunc(func(string, string) error { return nil })), p)
	if !errors.Is(err, mptcp.ErrAddedNotReadBack) {
		t.Fatalf("Apply = %v, want the read-back failure reported", err)
	}
	got := reconcile.OwnedSet{}.Record(res)
	if !got.Has(reconcile.Key{Addr: netip.MustParseAddr("192.0.2.1")}) {
		t.Errorf("owned after the add = %v, want 192.0.2.1 recorded", got.Keys())
	}
}

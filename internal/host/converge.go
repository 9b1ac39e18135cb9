package host

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"

	"github.com/mptcpd/mptcpd/pkg/config"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/netstate"
	"github.com/mptcpd/mptcpd/pkg/reconcile"
)

// Outcome is one pass of making the kernel match a config.
type Outcome struct {
	// Plan is what the pass planned (and, after Hold, tried).
	Plan reconcile.Plan
	// Result is what Apply did; empty when Plan was empty.
	Result reconcile.Result
	// Remaining is the plan made again after applying: empty when the
	// kernel now matches. Equal to Plan when nothing was applied.
	Remaining reconcile.Plan
	// Observed is the kernel as read last, and Net the links and
	// addresses read with it.
	Observed reconcile.Observed
	Net      netstate.Snapshot
	// Owned is the memory of created endpoints after the pass.
	Owned reconcile.OwnedSet
}

// Converged reports whether the kernel matches the config after the pass.
func (o Outcome) Converged() bool { return o.Remaining.Empty() }

// Converge makes the kernel match cfg: it reads, plans, and when the plan
// is not empty applies it, remembers what it created in store, and reads
// again to learn whether the kernel now matches. A pass over a kernel that
// already matches writes nothing. hold, when not nil, may drop steps from
// the plan before it is applied (the daemon holds back steps another
// manager keeps undoing).
//
// The error joins every failed step (with the kernel's message) and any
// failure to read the kernel or to save the memory of created endpoints.
func (h *Host) Converge(cfg *config.Config, store reconcile.OwnedStore, hold func(reconcile.Plan) reconcile.Plan) (Outcome, error) {
	var out Outcome
	var errs []error
	owned, err := store.Load()
	if err != nil {
		// A damaged memory must not stop every run. Starting empty is
		// safe: nothing is then taken for mptcpd's, so nothing foreign is
		// deleted. It matters only under shared ownership: say so there.
		owned = reconcile.OwnedSet{}
		if cfg != nil && cfg.Ownership == config.Shared {
			errs = append(errs, err)
		}
	}
	out.Owned = owned
	out.Plan, out.Observed, out.Net, err = h.plan(cfg, owned)
	if err != nil {
		return out, errors.Join(append(errs, err)...)
	}
	out.Remaining = out.Plan
	if out.Plan.Empty() {
		return out, errors.Join(errs...)
	}
	toApply := out.Plan
	if hold != nil {
		toApply = hold(out.Plan)
		out.Plan = toApply
		if toApply.Empty() {
			return out, errors.Join(errs...) // all held: nothing to write or re-read
		}
	}
	out.Result, err = reconcile.Apply(h.Kernel(), toApply)
	errs = append(errs, err, h.learnDroppedFlags(toApply, out.Result))

	// Remember what was created at once, before anything else can fail.
	owned = owned.Record(out.Result)
	out.Owned = owned
	if err := saveOwned(store, cfg, owned); err != nil {
		errs = append(errs, err)
	}
	out.Remaining, out.Observed, out.Net, err = h.plan(cfg, owned)
	if err != nil {
		return out, errors.Join(append(errs, fmt.Errorf("read the kernel again after applying: %w", err))...)
	}
	out.Owned = owned.Retain(out.Observed.Endpoints)
	if err := saveOwned(store, cfg, out.Owned); err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// learnDroppedFlags notices flags the kernel dropped from an endpoint it
// added (it drops the bits it does not know, such as laminar before Linux
// 6.18) and leaves them out of later plans: asking again would replace the
// endpoint on every run, closing its subflows each time.
func (h *Host) learnDroppedFlags(p reconcile.Plan, r reconcile.Result) error {
	var errs []error
	for _, d := range r.Done {
		if d.Op != reconcile.OpAdd {
			continue
		}
		want := p.Steps[d.Step].To.Flags & mptcp.KnownFlags
		if dropped := want &^ d.Endpoint.Flags &^ mptcp.FlagImplicit; dropped != 0 && dropped&^h.unsupported != 0 {
			h.unsupported |= dropped
			errs = append(errs, fmt.Errorf("the kernel dropped flag %q of endpoint %s: this kernel does not support it; it is left out from now on", dropped, d.Endpoint))
		}
	}
	return errors.Join(errs...)
}

// saveOwned remembers the created endpoints when that memory matters: under
// shared ownership, or once a memory exists (so that a later switch to
// shared still knows what mptcpd made). Exclusive ownership alone needs no
// memory, so applying to a throwaway namespace leaves nothing under /run.
func saveOwned(store reconcile.OwnedStore, cfg *config.Config, owned reconcile.OwnedSet) error {
	if cfg == nil || cfg.Ownership != config.Shared {
		if _, err := os.Stat(store.Path); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	old, err := store.Load()
	if err == nil && maps.Equal(old, owned) {
		return nil
	}
	return store.Save(owned)
}

// Installed returns the kernel's endpoints that the config accounts for:
// every one but the kernel-made implicit ones, and under shared ownership
// only those mptcpd created.
func (o Outcome) Installed(cfg *config.Config) []mptcp.Endpoint {
	shared := cfg != nil && cfg.Ownership == config.Shared
	var out []mptcp.Endpoint
	for _, ep := range o.Observed.Endpoints {
		if ep.Flags.Has(mptcp.FlagImplicit) || (shared && !o.Owned.Has(reconcile.KeyOf(ep))) {
			continue
		}
		out = append(out, ep)
	}
	return out
}

package daemon

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/mptcpd/mptcpd/internal/control"
	"github.com/mptcpd/mptcpd/internal/host"
	"github.com/mptcpd/mptcpd/internal/metrics"
	"github.com/mptcpd/mptcpd/internal/runner"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/reconcile"
)

// reconcile is the runner's function: one read of the kernel, a plan, and
// an apply only when the plan is not empty.
func (d *daemon) reconcile(_ context.Context, reasons []string) error {
	start := time.Now()
	cfg := d.config()
	out, err := d.host.Converge(cfg, d.store, func(p reconcile.Plan) reconcile.Plan {
		return d.hold(p, driftOnly(reasons))
	})
	end := time.Now()

	var runErrs []string
	for _, e := range stepErrors(err) {
		runErrs = append(runErrs, e.Error())
	}
	if err != nil && len(runErrs) == 0 {
		runErrs = []string{err.Error()}
	}
	d.logChanges(out, err, reasons)

	run := &control.Run{StartedAt: start, Duration: end.Sub(start), Result: control.RunOK, Changes: len(out.Result.Done), Reasons: reasons, Errors: runErrs}
	if err != nil {
		run.Result = control.RunError
	}
	d.mu.Lock()
	d.lastRun, d.lastOut, d.runErrs, d.lastEnd = run, out, runErrs, end
	d.runs++
	installed, withheld := d.counts()
	d.mu.Unlock()

	d.metrics.ObserveRun(metrics.Run{
		Finished: end, Duration: end.Sub(start), OK: err == nil,
		Changes: changeCounts(out), Errors: len(runErrs),
		Installed: installed, Withheld: withheld,
	})
	return err
}

// stepErrors unpacks the failed steps of an Apply error.
func stepErrors(err error) []error {
	if err == nil {
		return nil
	}
	var out []error
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			out = append(out, stepErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// logChanges writes one line per change made and one per failure; a run
// that changed nothing and failed nothing logs nothing.
func (d *daemon) logChanges(out host.Outcome, err error, reasons []string) {
	for _, done := range out.Result.Done {
		step := out.Plan.Steps[done.Step]
		d.log.Info("changed", zap.String("action", string(done.Op)), zap.String("endpoint", endpointText(done)),
			zap.String("step", step.String()), zap.String("reason", step.Reason), zap.Strings("triggers", reasons))
	}
	for _, e := range stepErrors(err) {
		var se *reconcile.StepError
		if errors.As(e, &se) {
			d.log.Error("change failed", zap.String("action", string(se.Op)), zap.String("step", se.Step.String()),
				zap.Error(se.Err), zap.Strings("triggers", reasons))
			continue
		}
		d.log.Error("run failed", zap.Error(e), zap.Strings("triggers", reasons))
	}
	if err == nil && !out.Plan.Empty() && !out.Converged() {
		d.log.Warn("the kernel does not match the file after applying", zap.String("remaining", out.Remaining.String()))
	}
}

func endpointText(done reconcile.Done) string {
	switch done.Op {
	case reconcile.OpSetLimits, reconcile.OpSetSysctl:
		return ""
	}
	return done.Endpoint.String()
}

func changeCounts(out host.Outcome) map[metrics.ChangeKind]int {
	counts := map[metrics.ChangeKind]int{}
	seen := map[int]bool{}
	for _, done := range out.Result.Done {
		if seen[done.Step] {
			continue // both halves of a replace count once
		}
		seen[done.Step] = true
		switch out.Plan.Steps[done.Step].Kind {
		case reconcile.Add:
			counts[metrics.ChangeAdd]++
		case reconcile.Delete:
			counts[metrics.ChangeDelete]++
		case reconcile.SetFlags:
			counts[metrics.ChangeSetFlags]++
		case reconcile.Replace:
			counts[metrics.ChangeReplace]++
		case reconcile.SetLimits:
			counts[metrics.ChangeLimits]++
		case reconcile.SetSysctl:
			counts[metrics.ChangeSysctl]++
		}
	}
	return counts
}

// counts returns the installed and withheld desired endpoints after the
// last run. Called with d.mu held.
func (d *daemon) counts() (installed, withheld int) {
	for _, ep := range d.lastOut.Observed.Endpoints {
		if !ep.Flags.Has(mptcp.FlagImplicit) {
			installed++
		}
	}
	return installed, len(d.lastOut.Remaining.Withheld)
}

// driftOnly reports whether a run was started by nothing but the periodic
// re-read: then neither the file nor a link or an address changed, and a
// step needed again means that someone undid an earlier one. Runs that
// serve a file change, a reload, a link or address event or a retry need
// steps because the wanted state moved (a link went down, an address came
// back) or an earlier step failed, which is no fight: counting them would
// take a flapping link for another manager and hold its endpoints back.
func driftOnly(reasons []string) bool {
	for _, r := range reasons {
		if r != runner.ReasonResync {
			return false
		}
	}
	return len(reasons) > 0
}

// hold drops the steps another manager keeps undoing, while their backoff
// lasts, and names the likely culprit in the log when a backoff begins.
// Only drift runs count towards a fight (see driftOnly); other runs still
// respect a backoff in force.
func (d *daemon) hold(p reconcile.Plan, drift bool) reconcile.Plan {
	kept := p
	kept.Steps = nil
	held := map[string]bool{}
	if !drift {
		for _, f := range d.fights.Fights() {
			held[f.Key] = true
		}
	}
	for _, s := range p.Steps {
		key := fightKey(s)
		if !drift {
			if !held[key] {
				kept.Steps = append(kept.Steps, s)
			}
			continue
		}
		dec := d.fights.Needed(key)
		if dec.Backoff > 0 {
			d.log.Warn("another manager keeps undoing this change; backing off",
				zap.String("step", s.String()), zap.Int("times", dec.Count),
				zap.Duration("backoff", dec.Backoff), zap.String("likely_culprit", d.culprit(key)))
		}
		if dec.Apply {
			kept.Steps = append(kept.Steps, s)
		}
	}
	return kept
}

func fightKey(s reconcile.Step) string {
	switch s.Kind {
	case reconcile.SetLimits:
		return "limits"
	case reconcile.SetSysctl:
		return "sysctl " + s.Sysctl
	case reconcile.Add:
		return "endpoint " + reconcile.KeyOf(s.To).String()
	}
	return "endpoint " + reconcile.KeyOf(s.From).String()
}

func (d *daemon) culprit(key string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.culprits[key]; ok {
		return c
	}
	c := guessCulprit(d.host.NS())
	d.culprits[key] = c
	return c
}

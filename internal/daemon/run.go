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
	d.mu.Lock()
	d.runningSince = start
	d.mu.Unlock()
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
	d.runningSince = time.Time{}
	installed, withheld := d.counts()
	d.mu.Unlock()
	d.updateStatus(err)

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
	return len(d.lastOut.Installed(d.cfg)), len(d.lastOut.Remaining.Withheld)
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
	kept.Steps = dropDependentAdds(p, kept.Steps)
	return kept
}

// dropDependentAdds removes, from the steps kept, the adds that needed a
// delete that was held back: one whose id the held endpoint still has, and
// those that would need a slot it was to free (the last in plan order go
// first). Sent anyway, they would only fail with EBUSY or ERANGE, and the
// failed run would back off everything else too.
func dropDependentAdds(p reconcile.Plan, kept []reconcile.Step) []reconcile.Step {
	keptSet := map[int]bool{}
	j := 0
	for i, s := range p.Steps {
		if j < len(kept) && sameStep(s, kept[j]) {
			keptSet[i] = true
			j++
		}
	}
	heldIDs := map[uint8]bool{}
	heldDeletes := 0
	for i, s := range p.Steps {
		if !keptSet[i] && s.Kind == reconcile.Delete {
			heldIDs[s.From.ID] = true
			heldDeletes++
		}
	}
	if heldDeletes == 0 {
		return kept
	}
	var out []reconcile.Step
	count := p.EndpointsBefore
	for _, s := range kept {
		if s.Kind == reconcile.Delete {
			count--
		}
	}
	for _, s := range kept {
		if s.Kind == reconcile.Add && !s.TakesOver() {
			if (s.To.ID != 0 && heldIDs[s.To.ID]) || count >= mptcp.MaxEndpoints {
				continue
			}
			count++
		}
		out = append(out, s)
	}
	return out
}

// sameStep tells whether two steps are the same one of a plan.
func sameStep(a, b reconcile.Step) bool {
	return a.Kind == b.Kind && a.From == b.From && a.To == b.To && a.Sysctl == b.Sysctl
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

// updateStatus keeps systemd's STATUS= line current when a run changes
// what it says (a failure starting or ending between reloads).
// It stays quiet while d.quiet holds (see there).
func (d *daemon) updateStatus(err error) {
	text := d.summary(err)
	d.mu.Lock()
	changed := !d.quiet && text != d.statusSent
	d.statusSent = text
	d.mu.Unlock()
	if changed {
		d.notifier.Status(text)
	}
}

package reconcile

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
)

// PathManager is the part of the kernel's path manager Apply changes;
// *pm.Client implements it.
type PathManager interface {
	AddEndpoint(ep mptcp.Endpoint) (mptcp.Endpoint, error)
	DeleteEndpoint(id uint8) error
	SetFlags(ep mptcp.Endpoint) error
	SetLimits(u mptcp.LimitsUpdate) error
}

// SysctlWriter writes one net.mptcp sysctl of the namespace. name is the
// file's name for it, without "net.mptcp." ("enabled").
type SysctlWriter interface {
	WriteSysctl(name, value string) error
}

// SysctlWriterFunc adapts a function to SysctlWriter, such as
//
//	func(name, value string) error { return sysctl.Write(ns, "net.mptcp."+name, value) }
type SysctlWriterFunc func(name, value string) error

// WriteSysctl calls f.
func (f SysctlWriterFunc) WriteSysctl(name, value string) error { return f(name, value) }

// Kernel is everything Apply changes.
type Kernel interface {
	PathManager
	SysctlWriter
}

// NewKernel joins a path manager client and a sysctl writer into a Kernel.
func NewKernel(pm PathManager, sysctl SysctlWriter) Kernel {
	return kernel{pm, sysctl}
}

type kernel struct {
	PathManager
	SysctlWriter
}

// Op is one kernel call Apply makes; a Replace step makes two.
type Op string

// The kernel calls.
const (
	OpDelete    Op = "delete"
	OpSetFlags  Op = "set_flags"
	OpAdd       Op = "add"
	OpSetLimits Op = "set_limits"
	OpSetSysctl Op = "set_sysctl"
)

// Done is one kernel call that succeeded.
type Done struct {
	// Step is the index of the step in Plan.Steps.
	Step int
	Op   Op
	// Endpoint is what was deleted, what the flags were set to, or, for an
	// add, the endpoint as the kernel stored it (with the id it chose).
	Endpoint mptcp.Endpoint
}

// Result is what Apply did. The kernel's exact state is only known by
// reading it again, but Result tells which endpoints this run created and
// removed, so that the set of endpoints mptcpd owns can follow.
type Result struct {
	// Done lists the kernel calls that succeeded, in order.
	Done []Done
}

// Added returns the endpoints the run added, as the kernel stored them.
func (r Result) Added() []mptcp.Endpoint { return r.endpoints(OpAdd) }

// Deleted returns the endpoints the run deleted.
func (r Result) Deleted() []mptcp.Endpoint { return r.endpoints(OpDelete) }

func (r Result) endpoints(op Op) []mptcp.Endpoint {
	var out []mptcp.Endpoint
	for _, d := range r.Done {
		if d.Op == op {
			out = append(out, d.Endpoint)
		}
	}
	return out
}

// ErrSkipped marks a step Apply did not try because an earlier failure made
// it certain to fail.
var ErrSkipped = errors.New("skipped")

// StepError is a failed (or skipped) kernel call of one step.
type StepError struct {
	// Index is the step's index in Plan.Steps.
	Index int
	Step  Step
	Op    Op
	// Err is the kernel's error (a *pm.Error from the real kernel, which
	// keeps the errno and the kernel's message), or wraps ErrSkipped.
	Err error
}

func (e *StepError) Error() string {
	if e.Step.Kind == Replace {
		return fmt.Sprintf("step %d (%s, its %s): %v", e.Index+1, e.Step, e.Op, e.Err)
	}
	return fmt.Sprintf("step %d (%s): %v", e.Index+1, e.Step, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// Apply runs the plan against the kernel: the deletes (with the delete
// halves of replacements) in plan order, then the flag changes, then the
// adds (with the add halves of replacements: takeovers of implicit
// endpoints first, then explicit ids, then kernel-chosen ids), then the
// limits, then the sysctls.
//
// It is best effort and goes on past a failed step, but it does not try a
// call that an earlier failure dooms: the add half of a replacement whose
// delete failed (the old endpoint still holds the address), an add whose
// explicit id a failed delete was to free, and an add that would need a
// slot that a failed delete was to free. Each failure is a *StepError;
// all are joined with errors.Join.
func Apply(k Kernel, p Plan) (Result, error) {
	a := applier{k: k, plan: p, count: p.EndpointsBefore, heldIDs: map[uint8]bool{}, replaceFailed: map[int]bool{}}
	a.deletes()
	a.setFlags()
	a.adds()
	a.limitsAndSysctls()
	return a.res, errors.Join(a.errs...)
}

type applier struct {
	k    Kernel
	plan Plan
	res  Result
	errs []error
	// count tracks the kernel's endpoints to know whether an add has a
	// slot once a delete failed.
	count         int
	failedDeletes int
	// heldIDs are ids a failed delete left in use.
	heldIDs       map[uint8]bool
	replaceFailed map[int]bool
}

func (a *applier) fail(i int, op Op, err error) {
	a.errs = append(a.errs, &StepError{Index: i, Step: a.plan.Steps[i], Op: op, Err: err})
}

func (a *applier) done(i int, op Op, ep mptcp.Endpoint) {
	a.res.Done = append(a.res.Done, Done{Step: i, Op: op, Endpoint: ep})
}

func (a *applier) deletes() {
	for i, s := range a.plan.Steps {
		if s.Kind != Delete && s.Kind != Replace {
			continue
		}
		if err := a.k.DeleteEndpoint(s.From.ID); err != nil {
			a.fail(i, OpDelete, err)
			// The endpoint keeps its id either way. A failed replace
			// also skips its own add, so it needs no slot it could not
			// get: only a plain delete leaves one fewer slot free.
			a.heldIDs[s.From.ID] = true
			if s.Kind == Replace {
				a.replaceFailed[i] = true
			} else {
				a.failedDeletes++
			}
			continue
		}
		a.count--
		a.done(i, OpDelete, s.From)
	}
}

func (a *applier) setFlags() {
	for i, s := range a.plan.Steps {
		if s.Kind != SetFlags {
			continue
		}
		if err := a.k.SetFlags(s.To); err != nil {
			a.fail(i, OpSetFlags, err)
			continue
		}
		a.done(i, OpSetFlags, s.To)
	}
}

func (a *applier) adds() {
	var order []int
	for i, s := range a.plan.Steps {
		if s.Kind == Add || s.Kind == Replace {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(x, y int) int {
		return cmp.Compare(addRank(a.plan.Steps[x]), addRank(a.plan.Steps[y]))
	})
	for _, i := range order {
		s := a.plan.Steps[i]
		switch {
		case a.replaceFailed[i]:
			a.fail(i, OpAdd, fmt.Errorf("%w: the delete of %s failed, so it still holds the address", ErrSkipped, endpointKeyText(s.From)))
			continue
		case s.To.ID != 0 && a.heldIDs[s.To.ID]:
			a.fail(i, OpAdd, fmt.Errorf("%w: id %d is still in use, its delete failed", ErrSkipped, s.To.ID))
			continue
		case a.failedDeletes > 0 && a.count >= mptcp.MaxEndpoints:
			a.fail(i, OpAdd, fmt.Errorf("%w: no slot (%d endpoints), a delete that was to free one failed", ErrSkipped, a.count))
			continue
		}
		got, err := a.k.AddEndpoint(s.To)
		if err != nil {
			a.fail(i, OpAdd, err)
			if !errors.Is(err, mptcp.ErrAddedNotReadBack) {
				continue
			}
			// It was added all the same: count it and record it, so that
			// the memory of created endpoints keeps it.
		}
		if !s.TakesOver() {
			a.count++
		}
		a.done(i, OpAdd, got)
	}
}

func (a *applier) limitsAndSysctls() {
	for i, s := range a.plan.Steps {
		switch s.Kind {
		case SetLimits:
			if err := a.k.SetLimits(s.Limits); err != nil {
				a.fail(i, OpSetLimits, err)
				continue
			}
			a.done(i, OpSetLimits, mptcp.Endpoint{})
		case SetSysctl:
			if err := a.k.WriteSysctl(s.Sysctl, s.Value); err != nil {
				a.fail(i, OpSetSysctl, err)
				continue
			}
			a.done(i, OpSetSysctl, mptcp.Endpoint{})
		}
	}
}

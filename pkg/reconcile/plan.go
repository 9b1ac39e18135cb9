package reconcile

import (
	"net/netip"
	"strings"

	"github.com/mptcpd/mptcpd/pkg/config"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/netstate"
)

// Desired is everything that decides what the kernel should hold.
type Desired struct {
	// Config is the validated file; nil manages nothing.
	Config *config.Config
	// Net is the host's links and addresses, which decide which endpoints
	// are usable and what the file's device names mean.
	Net netstate.Snapshot
	// Owned are the endpoints mptcpd created; only they may be changed or
	// removed under shared ownership.
	Owned OwnedSet
}

// Observed is what the kernel holds.
type Observed struct {
	// Endpoints is the kernel's endpoint table.
	Endpoints []mptcp.Endpoint
	// Limits are the kernel's limits.
	Limits mptcp.Limits
	// Sysctls holds the current values of the sysctls the file names, by
	// the file's name for them (without "net.mptcp."). A missing name is
	// one that could not be read; it is written regardless.
	Sysctls map[string]string
}

// Kind says what a Step does.
type Kind string

// The kinds of steps, in the order a plan runs them.
const (
	// Delete removes an endpoint (by id), closing its live subflows.
	Delete Kind = "delete"
	// Replace deletes an endpoint and adds it back changed, because the
	// kernel cannot change that property in place. Its delete runs with
	// the deletes and its add with the adds.
	Replace Kind = "replace"
	// SetFlags changes backup and fullmesh in place; nothing closes.
	SetFlags Kind = "set_flags"
	// Add adds an endpoint.
	Add Kind = "add"
	// SetLimits changes the limits that differ.
	SetLimits Kind = "set_limits"
	// SetSysctl writes one net.mptcp sysctl.
	SetSysctl Kind = "set_sysctl"
)

// Step is one change to the kernel. Which fields count depends on Kind.
type Step struct {
	Kind Kind

	// From is the kernel's endpoint that a Delete removes, a SetFlags
	// changes or a Replace removes; for an Add it is the implicit endpoint
	// the add takes over in place (zero otherwise).
	From mptcp.Endpoint
	// To is the endpoint an Add or a Replace sends (ID 0: the kernel
	// chooses) and what a SetFlags sends (From with the new flags).
	To mptcp.Endpoint
	// FromDev and ToDev name the devices of From.IfIndex and To.IfIndex
	// as the host knew them when the plan was made ("" when the index is
	// 0 or unknown).
	FromDev, ToDev string

	// Limits holds only the limits that change (SetLimits); LimitsFrom is
	// what the kernel had.
	Limits     mptcp.LimitsUpdate
	LimitsFrom mptcp.Limits

	// Sysctl is the name as the file gives it (without "net.mptcp."),
	// Value what is written and OldValue what was read ("" when unknown).
	Sysctl          string
	Value, OldValue string

	// Reason says why the step is needed, for people.
	Reason string
	// Disruptive steps close live subflows (every endpoint delete does).
	Disruptive bool
}

// TakesOver reports whether an Add step replaces an implicit endpoint in
// place (it keeps that endpoint's id and needs no new slot).
func (s Step) TakesOver() bool { return s.Kind == Add && s.From.Addr.IsValid() }

// Reasons for withholding a wanted endpoint.
const (
	ReasonDeviceMissing = "device missing"
	ReasonLinkDown      = "link down"
	ReasonNotAssigned   = "address not assigned"
	ReasonTentative     = "address tentative (DAD)"
	ReasonDADFailed     = "duplicate address detected"
	ReasonNoSlot        = "no slot"
	// ReasonClaimed: an earlier entry of the file claims the address.
	ReasonClaimed = "address claimed by an earlier entry"
	// ReasonForeign: under shared ownership, an endpoint mptcpd did not
	// create holds the address or the id.
	ReasonForeign = "held by an endpoint mptcpd did not create"
	// ReasonNoListener: an endpoint with a port makes the kernel listen on
	// its address, which it cannot do on an IPv6 link-local one.
	ReasonNoListener = "port on an IPv6 link-local address"
	// ReasonDuplicateID: an earlier entry asks for the same id (the config
	// loader refuses such files; kept so that no input can break a plan).
	ReasonDuplicateID = "id wanted by an earlier entry"
)

// Withheld is an endpoint the file wants that is not installed now.
type Withheld struct {
	// Entry is the index of the entry in Config.Endpoints.
	Entry int
	// Address and Port of the wanted endpoint; Address is invalid when a
	// whole interface entry is withheld (its device is missing or down).
	Address netip.Addr
	Port    uint16
	// Dev is the entry's device (its interface, or its dev).
	Dev string
	// Reason is one of the Reason constants; Detail says more.
	Reason string
	Detail string
}

// Plan is what it takes to make the kernel match the desired state.
type Plan struct {
	// Steps in the order Apply runs them (see Kind).
	Steps []Step
	// Withheld lists wanted endpoints that are not installed, in file
	// order.
	Withheld []Withheld
	// EndpointsBefore and EndpointsAfter count the kernel's endpoints
	// before and after the plan is applied (the kernel holds at most
	// mptcp.MaxEndpoints).
	EndpointsBefore, EndpointsAfter int
}

// Empty reports whether the kernel already matches.
func (p Plan) Empty() bool { return len(p.Steps) == 0 }

// Disruptive reports whether any step closes live subflows.
func (p Plan) Disruptive() bool {
	for _, s := range p.Steps {
		if s.Disruptive {
			return true
		}
	}
	return false
}

// NewPlan computes the plan that makes observed match desired. It is pure:
// the same inputs always give the same plan.
func NewPlan(d Desired, o Observed) Plan {
	p := Plan{EndpointsBefore: len(o.Endpoints), EndpointsAfter: len(o.Endpoints)}
	cfg := d.Config
	if cfg == nil {
		return p
	}
	if cfg.ManageEndpoints {
		ep := planEndpoints(cfg, d.Net, d.Owned, o.Endpoints)
		p.Steps = ep.steps
		p.Withheld = ep.withheld
		p.EndpointsAfter = ep.after
	}
	if s, ok := limitsStep(cfg.Limits, o.Limits); ok {
		p.Steps = append(p.Steps, s)
	}
	p.Steps = append(p.Steps, sysctlSteps(cfg.Sysctls, o.Sysctls)...)
	return p
}

func limitsStep(want *mptcp.LimitsUpdate, have mptcp.Limits) (Step, bool) {
	if want == nil {
		return Step{}, false
	}
	var u mptcp.LimitsUpdate
	if v := want.AddAddrAccepted; v != nil && *v != have.AddAddrAccepted {
		u.AddAddrAccepted = ptr(*v)
	}
	if v := want.Subflows; v != nil && *v != have.Subflows {
		u.Subflows = ptr(*v)
	}
	if u.AddAddrAccepted == nil && u.Subflows == nil {
		return Step{}, false
	}
	return Step{Kind: SetLimits, Limits: u, LimitsFrom: have, Reason: "limits differ from the file"}, true
}

func sysctlSteps(want []config.Sysctl, have map[string]string) []Step {
	var steps []Step
	for _, s := range want {
		cur, ok := have[s.Name]
		if ok && normalizeSysctl(cur) == normalizeSysctl(s.Value) {
			continue
		}
		reason := "value differs from the file"
		if !ok {
			reason = "current value unknown"
		}
		steps = append(steps, Step{Kind: SetSysctl, Sysctl: s.Name, Value: s.Value, OldValue: normalizeSysctl(cur), Reason: reason})
	}
	return steps
}

// normalizeSysctl makes values read from /proc/sys (trailing newline, tabs
// between the fields of multi-value entries) compare equal to the file's.
func normalizeSysctl(v string) string { return strings.Join(strings.Fields(v), " ") }

func ptr[T any](v T) *T { return &v }

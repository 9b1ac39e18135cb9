package reconcile

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/mptcpd/mptcpd/pkg/config"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/netstate"
)

// action is what happens to a selected wanted endpoint.
type action int

const (
	actKeep     action = iota // the kernel has it exactly
	actSetFlags               // only backup/fullmesh differ
	actReplace                // delete the matched endpoint, add this one
	actAdd                    // missing
	actTakeover               // add over an implicit endpoint, in place
)

// fate is what happens to an observed endpoint.
type fate int

const (
	fateKeep     fate = iota // stays (perhaps with new flags, or taken over)
	fateDelete               // deleted
	fateReplaced             // deleted by a Replace step
)

type observedEP struct {
	ep mptcp.Endpoint
	// deletable: the ownership rule lets mptcpd change or remove it.
	deletable bool
	// match is the index of the selected want matched to it, or -1.
	match  int
	fate   fate
	reason string
}

func (o *observedEP) implicit() bool { return o.ep.Flags&mptcp.FlagImplicit != 0 }

type selected struct {
	want
	// obs is the index of the matched observed endpoint, or -1.
	obs    int
	action action
	reason string
}

type endpointPlan struct {
	steps    []Step
	withheld []Withheld
	after    int
}

type planner struct {
	net      netstate.Snapshot
	obs      []observedEP
	sel      []selected
	withheld []Withheld
	// noSlot indexes the entries of withheld that lack a slot.
	noSlot  []int
	reasons map[netip.Addr]string
}

// planEndpoints plans the endpoint steps; see the package documentation
// for the rules.
func planEndpoints(cfg *config.Config, net netstate.Snapshot, owned OwnedSet, observed []mptcp.Endpoint) endpointPlan {
	x := expand(cfg.Endpoints, net)
	p := &planner{net: net, withheld: x.withheld, reasons: x.reasons}
	shared := cfg.Ownership == config.Shared
	for _, ep := range observed {
		ep.Addr = ep.Addr.Unmap()
		p.obs = append(p.obs, observedEP{ep: ep, deletable: !shared || owned.Has(KeyOf(ep)), match: -1})
	}
	slices.SortStableFunc(p.obs, func(a, b observedEP) int { return cmp.Compare(a.ep.ID, b.ep.ID) })

	p.selectWants(x.wants)
	p.match()
	p.classify()
	p.resolveIDs()
	p.fitSlots()
	p.makeRoomForTakeovers()
	p.explainNoSlot()
	sortWithheld(p.withheld)
	return endpointPlan{steps: p.steps(), withheld: p.withheld, after: p.after()}
}

// findKey returns the observed endpoint with this address and port (the
// kernel's notion of a duplicate), or -1.
func (p *planner) findKey(addr netip.Addr, port uint16) int {
	for i := range p.obs {
		if p.obs[i].ep.Addr == addr && p.obs[i].ep.Port == port {
			return i
		}
	}
	return -1
}

func (p *planner) findID(id uint8) int {
	for i := range p.obs {
		if p.obs[i].ep.ID == id {
			return i
		}
	}
	return -1
}

// candidate is a wanted endpoint that the ownership rule lets mptcpd
// install, if it gets a slot.
type candidate struct {
	want
	// takeover is the foreign implicit endpoint it takes over, or -1.
	takeover int
}

// selectWants gives slots to the wanted endpoints in file order and
// withholds those that cannot be installed.
func (p *planner) selectWants(wants []want) {
	p.giveSlots(p.candidates(wants))
}

// candidates withholds the wanted endpoints whose address or id a foreign
// endpoint holds, and returns the others in file order.
func (p *planner) candidates(wants []want) []candidate {
	wantedIDs := map[uint8]netip.Addr{}
	for _, w := range wants {
		if _, dup := wantedIDs[w.ep.ID]; w.ep.ID != 0 && !dup {
			wantedIDs[w.ep.ID] = w.ep.Addr
		}
	}
	var cands []candidate
	ids := map[uint8]int{}
	for _, w := range wants {
		held := Withheld{Entry: w.entry, Address: w.ep.Addr, Port: w.ep.Port, Dev: w.dev}
		exact := p.findKey(w.ep.Addr, w.ep.Port)
		takeover := -1
		if exact >= 0 && !p.obs[exact].deletable {
			o := p.obs[exact]
			if !o.implicit() || (w.ep.ID != 0 && w.ep.ID != o.ep.ID) {
				held.Reason, held.Detail = ReasonForeign, foreignDetail(o.ep, w.ep)
				p.withhold(held)
				continue
			}
			// Taken over, it would keep an id another entry asks for, and
			// only a delete could free that id.
			if by, ok := wantedIDs[o.ep.ID]; ok && w.ep.ID != o.ep.ID {
				held.Reason, held.Detail = ReasonForeign, fmt.Sprintf("%s exists, and its id is wanted by %s", o.ep, by)
				p.withhold(held)
				continue
			}
			takeover = exact
		}
		if id := w.ep.ID; id != 0 {
			if first, dup := ids[id]; dup {
				held.Reason, held.Detail = ReasonDuplicateID, fmt.Sprintf("id %d, entry %d", id, first+1)
				p.withhold(held)
				continue
			}
			if h := p.findID(id); h >= 0 && h != exact && !p.obs[h].deletable {
				held.Reason, held.Detail = ReasonForeign, fmt.Sprintf("id %d is held by %s", id, p.obs[h].ep)
				p.withhold(held)
				continue
			}
			ids[id] = w.entry
		}
		cands = append(cands, candidate{want: w, takeover: takeover})
	}
	return cands
}

// giveSlots selects the candidates that fit, in file order, beside the
// endpoints mptcpd may not remove.
//
// A foreign implicit endpoint that a candidate takes over is not counted
// among those: once taken over it is mptcpd's and competes for its slot in
// file order like any other, so the selection must treat it so already, or
// the next plan would undo this one. Only when that candidate gets no slot
// does the implicit endpoint stay foreign and keep its slot, which may push
// out another candidate; the selection repeats until that settles (the set
// of such endpoints only grows, so it does).
func (p *planner) giveSlots(cands []candidate) {
	claimable := map[int]bool{}
	for _, c := range cands {
		if c.takeover >= 0 {
			claimable[c.takeover] = true
		}
	}
	foreign := 0
	for i, o := range p.obs {
		if !o.deletable && !claimable[i] {
			foreign++
		}
	}
	stays := map[int]bool{}
	for {
		free := max(mptcp.MaxEndpoints-foreign-len(stays), 0)
		var sel []selected
		var noSlot []want
		next := map[int]bool{}
		for _, c := range cands {
			if free == 0 {
				noSlot = append(noSlot, c.want)
				if c.takeover >= 0 {
					next[c.takeover] = true
				}
				continue
			}
			free--
			sel = append(sel, selected{want: c.want, obs: -1})
		}
		if !maps.Equal(next, stays) {
			stays = next
			continue
		}
		p.sel = sel
		for _, w := range noSlot {
			p.noSlot = append(p.noSlot, len(p.withheld))
			p.withhold(Withheld{Entry: w.entry, Address: w.ep.Addr, Port: w.ep.Port, Dev: w.dev, Reason: ReasonNoSlot})
		}
		return
	}
}

// explainNoSlot says, for the endpoints withheld for want of a slot, who
// holds the slots once the plan has run. It counts the final occupants, so
// that the explanation stays the same when the plan is made again after it
// ran (an implicit endpoint taken over counts for the file both times).
func (p *planner) explainNoSlot() {
	foreign := 0
	for _, o := range p.obs {
		if !o.deletable && o.match < 0 {
			foreign++
		}
	}
	d := fmt.Sprintf("%d endpoints in use: %d for the file's entries", mptcp.MaxEndpoints, len(p.sel))
	if foreign > 0 {
		d += fmt.Sprintf(", %d not created by mptcpd", foreign)
	}
	for _, i := range p.noSlot {
		p.withheld[i].Detail = d
	}
}

func foreignDetail(have, want mptcp.Endpoint) string {
	if sameEndpoint(have, want) {
		return fmt.Sprintf("an identical endpoint exists (id %d), left to whoever created it", have.ID)
	}
	return fmt.Sprintf("%s exists", have)
}

func (p *planner) withhold(w Withheld) {
	p.withheld = append(p.withheld, w)
	if _, ok := p.reasons[w.Address]; !ok {
		p.reasons[w.Address] = w.Reason
	}
}

// match pairs selected wants with observed endpoints: same address and
// port first, then (for endpoints mptcpd may replace) same address with
// another port, so a port change is one replacement. Implicit endpoints
// only pair on an exact match, where an add takes them over.
func (p *planner) match() {
	for si := range p.sel {
		i := p.findKey(p.sel[si].ep.Addr, p.sel[si].ep.Port)
		if i >= 0 && p.obs[i].match < 0 {
			p.pair(si, i)
		}
	}
	for si := range p.sel {
		if p.sel[si].obs >= 0 {
			continue
		}
		for i := range p.obs {
			o := &p.obs[i]
			if o.match < 0 && o.deletable && !o.implicit() && o.ep.Addr == p.sel[si].ep.Addr {
				p.pair(si, i)
				break
			}
		}
	}
}

func (p *planner) pair(si, i int) {
	p.sel[si].obs = i
	p.obs[i].match = si
}

// classify decides each pair's action and each unmatched endpoint's fate.
func (p *planner) classify() {
	for si := range p.sel {
		s := &p.sel[si]
		if s.obs < 0 {
			s.action = actAdd
			continue
		}
		o := &p.obs[s.obs]
		if o.implicit() {
			if s.ep.ID == 0 || s.ep.ID == o.ep.ID {
				s.action = actTakeover
				s.reason = fmt.Sprintf("takes over implicit endpoint id %d", o.ep.ID)
				continue
			}
			s.action = actReplace
			s.reason = fmt.Sprintf("implicit endpoint, id %d -> %d forces replacement (the kernel takes one over only without an id)", o.ep.ID, s.ep.ID)
			o.fate = fateReplaced
			continue
		}
		if forced := p.forcedChanges(o.ep, s.ep); len(forced) > 0 {
			s.action = actReplace
			s.reason = strings.Join(forced, ", ") + " forces replacement"
			o.fate = fateReplaced
			continue
		}
		if changes := mutableChanges(o.ep.Flags, s.ep.Flags); len(changes) > 0 {
			s.action = actSetFlags
			s.reason = strings.Join(changes, ", ")
			continue
		}
		s.action = actKeep
	}
	for i := range p.obs {
		o := &p.obs[i]
		if o.match >= 0 || !o.deletable || o.implicit() {
			continue
		}
		o.fate = fateDelete
		o.reason = "not in the file"
		if r, ok := p.reasons[o.ep.Addr]; ok {
			o.reason = r
		} else if r, ok := p.deviceReason(o.ep.IfIndex); ok {
			o.reason = r
		}
	}
}

// deviceReason is the reason a whole interface entry on the endpoint's
// device is withheld (its link is down, say), so that the delete of an
// address it expanded to says so rather than "not in the file".
func (p *planner) deviceReason(ifindex int32) (string, bool) {
	if ifindex == 0 {
		return "", false
	}
	l, ok := p.net.LinkByIndex(ifindex)
	if !ok {
		return "", false
	}
	for _, w := range p.withheld {
		if !w.Address.IsValid() && w.Dev == l.Name {
			return w.Reason, true
		}
	}
	return "", false
}

// forcedChanges lists the differences SET_FLAGS cannot make.
func (p *planner) forcedChanges(have, want mptcp.Endpoint) []string {
	var out []string
	if want.ID != 0 && want.ID != have.ID {
		out = append(out, fmt.Sprintf("id %d -> %d", have.ID, want.ID))
	}
	if want.Port != have.Port {
		out = append(out, fmt.Sprintf("port %d -> %d", have.Port, want.Port))
	}
	if want.IfIndex != have.IfIndex {
		out = append(out, fmt.Sprintf("dev %s -> %s", p.devLabel(have.IfIndex), p.devLabel(want.IfIndex)))
	}
	for _, f := range []mptcp.Flags{mptcp.FlagSignal, mptcp.FlagSubflow, mptcp.FlagLaminar} {
		if have.Flags&f != want.Flags&f {
			out = append(out, flagChange(f, have.Flags))
		}
	}
	return out
}

func mutableChanges(have, want mptcp.Flags) []string {
	var out []string
	for _, f := range []mptcp.Flags{mptcp.FlagBackup, mptcp.FlagFullmesh} {
		if have&f != want&f {
			out = append(out, flagChange(f, have))
		}
	}
	return out
}

// flagChange renders the flip of flag f from its state in have, as
// iproute2's change options do: "backup -> nobackup".
func flagChange(f, have mptcp.Flags) string {
	if have&f != 0 {
		return fmt.Sprintf("%s -> no%s", f, f)
	}
	return fmt.Sprintf("no%s -> %s", f, f)
}

func (p *planner) devName(ifindex int32) string {
	if ifindex == 0 {
		return ""
	}
	if l, ok := p.net.LinkByIndex(ifindex); ok {
		return l.Name
	}
	return ""
}

func (p *planner) devLabel(ifindex int32) string {
	if ifindex == 0 {
		return "none"
	}
	if name := p.devName(ifindex); name != "" {
		return name
	}
	return fmt.Sprintf("ifindex %d", ifindex)
}

// resolveIDs frees every explicit id an add needs that an endpoint which
// would otherwise stay holds: a kept implicit endpoint is deleted, one the
// file wants elsewhere without an explicit id is replaced (re-added with a
// kernel-chosen id).
func (p *planner) resolveIDs() {
	for si := range p.sel {
		s := p.sel[si]
		if s.ep.ID == 0 || (s.action != actAdd && s.action != actReplace) {
			continue
		}
		h := p.findID(s.ep.ID)
		if h < 0 || h == s.obs {
			continue
		}
		holder := &p.obs[h]
		if holder.fate != fateKeep || !holder.deletable {
			continue
		}
		why := fmt.Sprintf("id %d is wanted by %s", s.ep.ID, s.ep.Addr)
		if holder.match >= 0 {
			other := &p.sel[holder.match]
			other.action = actReplace
			other.reason = why
			holder.fate = fateReplaced
			continue
		}
		holder.fate = fateDelete
		holder.reason = why
	}
}

// after counts the endpoints once the plan has run.
func (p *planner) after() int {
	n := p.afterDeletes()
	for _, s := range p.sel {
		if s.action == actAdd || s.action == actReplace {
			n++
		}
	}
	return n
}

func (p *planner) afterDeletes() int {
	n := 0
	for _, o := range p.obs {
		if o.fate == fateKeep {
			n++
		}
	}
	return n
}

// keptImplicit lists the implicit endpoints that stay without being wanted,
// lowest id first: the ones to delete when a slot is needed.
func (p *planner) keptImplicit() []int {
	var out []int
	for i, o := range p.obs {
		if o.implicit() && o.deletable && o.match < 0 && o.fate == fateKeep {
			out = append(out, i)
		}
	}
	return out
}

// fitSlots deletes kept implicit endpoints while the file's endpoints would
// not fit beside them.
func (p *planner) fitSlots() {
	for _, i := range p.keptImplicit() {
		if p.after() <= mptcp.MaxEndpoints {
			return
		}
		p.obs[i].fate = fateDelete
		p.obs[i].reason = "implicit endpoint, its slot is needed for the file's endpoints"
	}
}

// makeRoomForTakeovers handles a full table: the kernel checks the slot
// count before it looks for an implicit endpoint to take over, so even a
// takeover fails with ERANGE while 8 endpoints exist.
func (p *planner) makeRoomForTakeovers() {
	var takeovers []int
	for si, s := range p.sel {
		if s.action == actTakeover {
			takeovers = append(takeovers, si)
		}
	}
	if len(takeovers) == 0 || p.afterDeletes() < mptcp.MaxEndpoints {
		return
	}
	const why = "the kernel refuses every add while %d endpoints exist, even one that takes over an implicit endpoint"
	if kept := p.keptImplicit(); len(kept) > 0 {
		o := &p.obs[kept[0]]
		o.fate = fateDelete
		o.reason = "implicit endpoint deleted to make room: " + fmt.Sprintf(why, mptcp.MaxEndpoints)
		return
	}
	for _, si := range takeovers {
		s := &p.sel[si]
		if o := &p.obs[s.obs]; o.deletable {
			s.action = actReplace
			s.reason = "table full, " + fmt.Sprintf(why, mptcp.MaxEndpoints)
			o.fate = fateReplaced
			return
		}
	}
	// Only foreign implicit endpoints, which shared ownership may not
	// delete: withhold the takeovers.
	var kept []selected
	for _, s := range p.sel {
		if s.action != actTakeover {
			kept = append(kept, s)
			continue
		}
		p.obs[s.obs].match = -1
		p.withhold(Withheld{Entry: s.entry, Address: s.ep.Addr, Port: s.ep.Port, Dev: s.dev, Reason: ReasonNoSlot,
			Detail: fmt.Sprintf(why, mptcp.MaxEndpoints) + fmt.Sprintf(", and implicit endpoint id %d was not created by mptcpd", p.obs[s.obs].ep.ID)})
	}
	p.sel = kept
	for si, s := range p.sel {
		if s.obs >= 0 {
			p.obs[s.obs].match = si
		}
	}
}

// addRank orders the adds: takeovers first (they need the table not to
// be full), then explicit ids (so that the kernel's allocator cannot hand
// one of them out first), then kernel-chosen ids.
func addRank(s Step) int {
	switch {
	case s.TakesOver():
		return 0
	case s.To.ID != 0:
		return 1
	}
	return 2
}

func (p *planner) steps() []Step {
	var deletes, setFlags, adds []Step
	for _, o := range p.obs {
		from, fromDev := o.ep, p.devName(o.ep.IfIndex)
		switch o.fate {
		case fateDelete:
			deletes = append(deletes, Step{Kind: Delete, From: from, FromDev: fromDev, Reason: o.reason, Disruptive: true})
		case fateReplaced:
			s := p.sel[o.match]
			deletes = append(deletes, Step{Kind: Replace, From: from, FromDev: fromDev, To: s.ep, ToDev: p.devName(s.ep.IfIndex), Reason: s.reason, Disruptive: true})
		case fateKeep:
			if o.match < 0 || p.sel[o.match].action != actSetFlags {
				continue
			}
			s := p.sel[o.match]
			to := o.ep
			to.Flags = o.ep.Flags&^mptcp.MutableFlags | s.ep.Flags&mptcp.MutableFlags
			setFlags = append(setFlags, Step{Kind: SetFlags, From: from, FromDev: fromDev, To: to, ToDev: fromDev, Reason: s.reason})
		}
	}
	for _, s := range p.sel {
		switch s.action {
		case actAdd:
			adds = append(adds, Step{Kind: Add, To: s.ep, ToDev: p.devName(s.ep.IfIndex)})
		case actTakeover:
			o := p.obs[s.obs].ep
			to := s.ep
			to.ID = 0 // the kernel refuses a takeover that names an id
			adds = append(adds, Step{Kind: Add, From: o, FromDev: p.devName(o.IfIndex), To: to, ToDev: p.devName(to.IfIndex), Reason: s.reason})
		}
	}
	slices.SortStableFunc(adds, func(a, b Step) int { return cmp.Compare(addRank(a), addRank(b)) })
	return slices.Concat(deletes, setFlags, adds)
}

// sameEndpoint reports whether have is what want describes: want.ID 0
// accepts any id, and flag bits this package cannot name are ignored.
func sameEndpoint(have, want mptcp.Endpoint) bool {
	return (want.ID == 0 || want.ID == have.ID) &&
		have.Addr.Unmap() == want.Addr.Unmap() &&
		have.Port == want.Port &&
		have.IfIndex == want.IfIndex &&
		have.Flags&mptcp.KnownFlags == want.Flags&mptcp.KnownFlags
}

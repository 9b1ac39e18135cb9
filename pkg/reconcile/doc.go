// Package reconcile turns a desired state (the config file, the host's links
// and addresses, and the endpoints mptcpd created) and the kernel's observed
// state into the smallest, least disruptive Plan, and applies a Plan to the
// kernel.
//
// NewPlan is a pure function: it does no I/O and reads no clock, so the same
// inputs always give the same plan, and a plan applied to the state it was
// made from reaches the desired state, after which planning again gives a
// plan with no steps.
//
// # Which endpoints the file wants
//
// A fixed entry wants its address; an interface entry wants every usable
// address of its interface, one endpoint each, bound to the interface, sorted
// by address, with loopback, link-local (169.254/16, fe80::/10), IPv6 ULA
// (fc00::/7) and temporary (privacy) addresses left out unless the entry opts
// in. Deprecated addresses are still wanted: their preferred lifetime ran
// out, but they remain valid and carry existing traffic, which is what an
// MPTCP subflow is. An address claimed by two entries goes to the first in
// file order; the other is withheld.
//
// A wanted endpoint is installed only while it is usable: its device exists,
// is up and has carrier, and its address is assigned (on that device when
// the entry names one, else on some usable link) and neither tentative nor
// failed duplicate address detection (an IPv4 address assigned twice, with
// two prefix lengths, is usable if either assignment is). Otherwise it is
// withheld, with a reason, and removed if installed. An endpoint with a port
// on an IPv6 link-local address is withheld too: the kernel's listening
// socket cannot bind such an address.
//
// # Matching and steps
//
// Desired and observed endpoints are matched by address and port (the
// kernel's own notion of a duplicate). An observed endpoint at the same
// address with another port that mptcpd may change is matched next, so a
// port change shows as one replacement. A match that differs only in backup
// or fullmesh gets one in-place SetFlags; a difference in id (when the entry
// asks for one), port, device, signal, subflow or laminar forces a Replace
// (delete, then add), which closes live subflows. Endpoints the ownership
// rule lets mptcpd remove and the file does not want are deleted; wanted ones
// that are missing are added.
//
// # Ownership
//
// Exclusive: every endpoint the file does not describe is removed, except
// kernel-made implicit endpoints, which are kept until a slot (or their id)
// is needed. Shared: only endpoints mptcpd created (the OwnedSet) are
// changed or removed; any other endpoint occupies its slot, id and address.
// A wanted address held by such a foreign endpoint is withheld, even when
// the foreign endpoint is identical to the wanted one: adopting it would make
// mptcpd delete another manager's endpoint once the file stops asking for
// it. Implicit endpoints belong to no manager: under either ownership an
// entry without an explicit id (or with the implicit endpoint's own id) takes
// one over by adding its address, which the kernel does in place, keeping the
// id and closing nothing. Under shared ownership an implicit endpoint is
// never deleted, so an entry that would need that is withheld, and so is
// an entry whose takeover would keep an id another entry asks for. A
// takeover competes for its slot in file order like an add: were it to win
// a slot only because the implicit endpoint already holds one, the next plan,
// seeing the endpoint as mptcpd's, would give that slot to an earlier entry.
//
// # Ids
//
// An explicit id held by an endpoint that goes anyway is free once the
// deletes have run. An explicit id held by an endpoint that stays (one the
// file wants at another address without an explicit id, or a kept implicit
// endpoint) forces that endpoint out: it is replaced, re-added with an id
// the kernel chooses, which is the only way to free an id. Adds run with
// explicit ids before kernel-chosen ones so the kernel's allocator can never
// hand out an id that a later add asks for.
//
// # Slots
//
// The kernel holds at most mptcp.MaxEndpoints endpoints. Foreign endpoints
// count first; then the wanted endpoints take slots in file order (an
// installed endpoint late in the file gives its slot to a usable one earlier
// in the file); the rest are withheld with "no slot". Implicit endpoints
// that no longer fit are deleted, lowest id first. Since the kernel refuses
// every add while the table is full, even one that takes over an implicit
// endpoint in place, a plan that takes one over on a full table first makes
// room.
//
// # Order
//
// Deletes (and the delete halves of replacements) run first, then flag
// changes, then adds (the add halves of replacements with them), then the
// limits, then the sysctls. Within the adds, takeovers of implicit endpoints
// run first, then adds with an explicit id, then adds with a kernel-chosen
// id. Apply is best effort: it goes on past a failed step, but skips the add
// half of a replacement whose delete failed, an add whose id a failed delete
// was to free, and an add that needs a slot a failed delete was to free.
package reconcile

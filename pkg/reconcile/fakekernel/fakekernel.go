// Package fakekernel is an in-memory MPTCP in-kernel path manager for unit
// tests of the planner and the daemon. It follows the kernel's semantics as
// Linux 6.18 implements them (the order of its checks included, since that
// decides which errno a request gets), and answers with the same *pm.Error
// values as the real client, so errors.Is(err, unix.EEXIST) works the same.
// An integration test runs the same sequences against it and against the
// real kernel and requires the same answers.
package fakekernel

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/pm"
)

// maxID is the highest endpoint id (MPTCP_PM_MAX_ADDR_ID).
const maxID = 255

// kernelFlags are the flag bits the kernel keeps; it drops the others
// without a word.
const kernelFlags = mptcp.KnownFlags

// DefaultSysctls are the net.mptcp sysctls of a new namespace, by name
// without "net.mptcp.".
func DefaultSysctls() map[string]string {
	return map[string]string{
		"enabled":                         "1",
		"add_addr_timeout":                "120",
		"path_manager":                    "kernel",
		"pm_type":                         "0",
		"scheduler":                       "default",
		"checksum_enabled":                "0",
		"allow_join_initial_addr_port":    "1",
		"stale_loss_cnt":                  "4",
		"close_timeout":                   "60",
		"blackhole_timeout":               "3600",
		"syn_retrans_before_tcp_fallback": "2",
	}
}

// Call describes a request, for failure injection.
type Call struct {
	// Op is "add", "delete", "set_flags", "flush", "set_limits" or
	// "set_sysctl".
	Op string
	// Endpoint is the request's endpoint (delete: only ID is set).
	Endpoint mptcp.Endpoint
	// Sysctl and Value for set_sysctl.
	Sysctl, Value string
}

// Kernel is the fake path manager of one namespace. Its methods are safe
// for concurrent use. The zero value is not usable; call New.
type Kernel struct {
	mu sync.Mutex
	// list is the kernel's endpoint list in its own order: endpoints with
	// a port at the head, the others at the tail. Lookups by address walk
	// it in this order.
	list   []mptcp.Endpoint
	used   [maxID + 1]bool
	nextID int
	limits mptcp.Limits
	// local, when not nil, are the addresses a listening socket can bind
	// to (an endpoint with a port opens one).
	local   map[netip.Addr]bool
	sysctls map[string]string
	fail    func(Call) error
}

// Option configures New.
type Option func(*Kernel)

// WithLocalAddrs makes the fake refuse an endpoint with a port whose
// address is not one of these, with EADDRNOTAVAIL, as the kernel does when
// its listening socket cannot bind. Without it every address is local.
func WithLocalAddrs(addrs ...netip.Addr) Option {
	return func(k *Kernel) {
		k.local = map[netip.Addr]bool{}
		for _, a := range addrs {
			k.local[a.Unmap()] = true
		}
	}
}

// New returns the path manager of a new namespace: no endpoints, limits
// subflows 2 and add_addr_accepted 0, default sysctls.
func New(opts ...Option) *Kernel {
	k := &Kernel{nextID: 1, limits: mptcp.Limits{Subflows: 2}, sysctls: DefaultSysctls()}
	for _, o := range opts {
		o(k)
	}
	return k
}

// Clone returns an independent copy with the same state (endpoints, id
// allocator, limits, sysctls, local addresses, failure hook).
func (k *Kernel) Clone() *Kernel {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := &Kernel{
		list:    slices.Clone(k.list),
		used:    k.used,
		nextID:  k.nextID,
		limits:  k.limits,
		sysctls: map[string]string{},
		fail:    k.fail,
	}
	for n, v := range k.sysctls {
		c.sysctls[n] = v
	}
	if k.local != nil {
		c.local = map[netip.Addr]bool{}
		for a := range k.local {
			c.local[a] = true
		}
	}
	return c
}

// SetFailure installs fn, which sees every changing request before the
// fake does and can fail it: a non-nil error is returned as the request's
// error (a unix.Errno wrapped in a *pm.Error, like the real client) and the
// request changes nothing. nil removes the hook.
func (k *Kernel) SetFailure(fn func(Call) error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fail = fn
}

func (k *Kernel) injected(op string, c Call) error {
	if k.fail == nil {
		return nil
	}
	if err := k.fail(c); err != nil {
		return &pm.Error{Op: op, Err: err}
	}
	return nil
}

func kernelErr(op string, errno unix.Errno, msg string) error {
	return &pm.Error{Op: op, Err: errno, Message: msg}
}

// Endpoints returns every endpoint, sorted by id, as a dump does.
func (k *Kernel) Endpoints() ([]mptcp.Endpoint, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sorted(), nil
}

func (k *Kernel) sorted() []mptcp.Endpoint {
	out := slices.Clone(k.list)
	slices.SortFunc(out, func(a, b mptcp.Endpoint) int { return int(a.ID) - int(b.ID) })
	if out == nil {
		out = []mptcp.Endpoint{}
	}
	return out
}

// Endpoint returns the endpoint with the given id; an unknown id is EINVAL.
func (k *Kernel) Endpoint(id uint8) (mptcp.Endpoint, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if i := k.indexByID(id); i >= 0 {
		return k.list[i], nil
	}
	return mptcp.Endpoint{}, kernelErr(fmt.Sprintf("get endpoint id %d", id), unix.EINVAL, "address not found")
}

func (k *Kernel) indexByID(id uint8) int {
	for i, ep := range k.list {
		if ep.ID == id {
			return i
		}
	}
	return -1
}

// indexByAddr finds an endpoint as the kernel's __lookup_addr does: in
// list order, same address, and same port only when the endpoint has one.
func (k *Kernel) indexByAddr(addr netip.Addr, port uint16) int {
	for i, ep := range k.list {
		if ep.Addr == addr && (ep.Port == 0 || ep.Port == port) {
			return i
		}
	}
	return -1
}

// usesPort is the kernel's address_use_port: only a signal endpoint
// without subflow has a listening port.
func usesPort(f mptcp.Flags) bool {
	return f&(mptcp.FlagSignal|mptcp.FlagSubflow) == mptcp.FlagSignal
}

// AddEndpoint adds an endpoint as ADD_ADDR does and returns it as stored.
func (k *Kernel) AddEndpoint(ep mptcp.Endpoint) (mptcp.Endpoint, error) {
	ep.Addr = ep.Addr.Unmap()
	op := "add endpoint " + ep.String()
	if !ep.Addr.IsValid() {
		return mptcp.Endpoint{}, &pm.Error{Op: op, Err: errors.New("no address")}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injected(op, Call{Op: "add", Endpoint: ep}); err != nil {
		return mptcp.Endpoint{}, err
	}
	ep.Flags &= kernelFlags
	switch {
	case ep.Port != 0 && !usesPort(ep.Flags):
		return mptcp.Endpoint{}, kernelErr(op, unix.EINVAL, "flags must have signal and not subflow when using port")
	case ep.Flags&mptcp.FlagSignal != 0 && ep.Flags&mptcp.FlagFullmesh != 0:
		return mptcp.Endpoint{}, kernelErr(op, unix.EINVAL, "flags mustn't have both signal and fullmesh")
	case ep.Flags&mptcp.FlagImplicit != 0:
		return mptcp.Endpoint{}, kernelErr(op, unix.EINVAL, "can't create IMPLICIT endpoint")
	}
	// The listening socket is made before the table is even looked at.
	if ep.Port != 0 {
		// An IPv6 link-local address needs a scope to bind to, which the
		// kernel's listener never has.
		if ep.Addr.Is6() && ep.Addr.IsLinkLocalUnicast() {
			return mptcp.Endpoint{}, kernelErr(op, unix.EINVAL, fmt.Sprintf("create listen socket error: %d", -int(unix.EINVAL)))
		}
		if k.local != nil && !k.local[ep.Addr] {
			return mptcp.Endpoint{}, kernelErr(op, unix.EADDRNOTAVAIL, fmt.Sprintf("create listen socket error: %d", -int(unix.EADDRNOTAVAIL)))
		}
		for _, cur := range k.list {
			if cur.Port == ep.Port && cur.Addr == ep.Addr {
				return mptcp.Endpoint{}, kernelErr(op, unix.EADDRINUSE, fmt.Sprintf("create listen socket error: %d", -int(unix.EADDRINUSE)))
			}
		}
	}
	stored, errno := k.appendEndpoint(ep, ep.ID == 0, true)
	if errno != 0 {
		return mptcp.Endpoint{}, kernelErr(op, errno, fmt.Sprintf("too many addresses or duplicate one: %d", -int(errno)))
	}
	return stored, nil
}

// appendEndpoint is the kernel's mptcp_pm_nl_append_new_local_addr.
func (k *Kernel) appendEndpoint(ep mptcp.Endpoint, needsID, replace bool) (mptcp.Endpoint, unix.Errno) {
	if k.nextID == maxID {
		k.nextID = 1
	}
	if len(k.list) >= mptcp.MaxEndpoints {
		return mptcp.Endpoint{}, unix.ERANGE
	}
	if k.used[ep.ID] {
		return mptcp.Endpoint{}, unix.EBUSY
	}
	if !usesPort(ep.Flags) {
		ep.Port = 0
	}
	replaced := -1
	for i, cur := range k.list {
		if cur.Addr != ep.Addr || cur.Port != ep.Port {
			continue
		}
		// Only an implicit endpoint may be replaced, and only by a
		// request that names no id; it keeps its id.
		if cur.Flags&mptcp.FlagImplicit == 0 {
			return mptcp.Endpoint{}, unix.EEXIST
		}
		if ep.ID != 0 {
			return mptcp.Endpoint{}, unix.EINVAL
		}
		if !replace {
			return cur, 0
		}
		ep.ID = cur.ID
		replaced = i
		break
	}
	if replaced >= 0 {
		k.list = slices.Delete(k.list, replaced, replaced+1)
	}
	if ep.ID == 0 && needsID {
		ep.ID = k.nextFreeID()
	}
	if ep.ID == 0 {
		return mptcp.Endpoint{}, unix.EINVAL
	}
	k.used[ep.ID] = true
	if int(ep.ID) > k.nextID {
		k.nextID = int(ep.ID)
	}
	if ep.Port != 0 {
		k.list = slices.Insert(k.list, 0, ep)
	} else {
		k.list = append(k.list, ep)
	}
	return ep, 0
}

// nextFreeID takes the first free id from the highest one handed out,
// wrapping to 1 once (the kernel's find_next_zero_bit from next_id, whose
// "not found" truncates to id 0).
func (k *Kernel) nextFreeID() uint8 {
	for id := k.nextID; id <= maxID; id++ {
		if !k.used[id] {
			return uint8(id)
		}
	}
	if k.nextID == 1 {
		return 0
	}
	k.nextID = 1
	for id := 1; id <= maxID; id++ {
		if !k.used[id] {
			return uint8(id)
		}
	}
	return 0
}

// DeleteEndpoint deletes by id, as DEL_ADDR does. Id 0 is refused as the
// real client refuses it.
func (k *Kernel) DeleteEndpoint(id uint8) error {
	op := fmt.Sprintf("delete endpoint id %d", id)
	if id == 0 {
		return &pm.Error{Op: op, Err: pm.ErrIDZero}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injected(op, Call{Op: "delete", Endpoint: mptcp.Endpoint{ID: id}}); err != nil {
		return err
	}
	i := k.indexByID(id)
	if i < 0 {
		return kernelErr(op, unix.EINVAL, "address not found")
	}
	k.list = slices.Delete(k.list, i, i+1)
	k.used[id] = false
	return nil
}

// CloseInitialSubflows is DEL_ADDR with id 0 and an address, as the real
// client sends it: the kernel deletes no endpoint and answers success (it
// closes the initial subflows of connections from addr, which the fake has
// none of).
func (k *Kernel) CloseInitialSubflows(addr netip.Addr) error {
	addr = addr.Unmap()
	op := "delete id 0 " + addr.String()
	if !addr.IsValid() {
		return &pm.Error{Op: op, Err: errors.New("no address")}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.injected(op, Call{Op: "delete", Endpoint: mptcp.Endpoint{Addr: addr}})
}

// SetFlags changes backup and fullmesh, as SET_FLAGS does: the endpoint is
// found by address (and port) when ep.Addr is valid, else by id.
func (k *Kernel) SetFlags(ep mptcp.Endpoint) error {
	ep.Addr = ep.Addr.Unmap()
	target := fmt.Sprintf("id %d", ep.ID)
	if ep.Addr.IsValid() {
		target = ep.Addr.String()
		if ep.Port != 0 {
			target += fmt.Sprintf(" port %d", ep.Port)
		}
	}
	flags := ep.Flags & mptcp.MutableFlags
	op := fmt.Sprintf("set flags of endpoint %s to %q", target, flags.String())
	if !ep.Addr.IsValid() && ep.ID == 0 {
		return &pm.Error{Op: op, Err: errors.New("no address and no id to find the endpoint by")}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injected(op, Call{Op: "set_flags", Endpoint: ep}); err != nil {
		return err
	}
	i := -1
	if ep.Addr.IsValid() {
		i = k.indexByAddr(ep.Addr, ep.Port)
	} else {
		i = k.indexByID(ep.ID)
	}
	if i < 0 {
		return kernelErr(op, unix.EINVAL, "address not found")
	}
	cur := &k.list[i]
	if flags&mptcp.FlagFullmesh != 0 && cur.Flags&(mptcp.FlagSignal|mptcp.FlagImplicit) != 0 {
		return kernelErr(op, unix.EINVAL, "invalid addr flags")
	}
	cur.Flags = cur.Flags&^mptcp.MutableFlags | flags
	return nil
}

// Flush deletes every endpoint and resets the id allocator; the limits
// stay.
func (k *Kernel) Flush() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injected("flush endpoints", Call{Op: "flush"}); err != nil {
		return err
	}
	k.list = nil
	k.used = [maxID + 1]bool{}
	k.nextID = 1
	return nil
}

// Limits returns the limits.
func (k *Kernel) Limits() (mptcp.Limits, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.limits, nil
}

// SetLimits sets the given limits, all or nothing; above mptcp.MaxLimit is
// EINVAL.
func (k *Kernel) SetLimits(u mptcp.LimitsUpdate) error {
	op := "set limits"
	if u.AddAddrAccepted != nil {
		op += fmt.Sprintf(" add_addr_accepted %d", *u.AddAddrAccepted)
	}
	if u.Subflows != nil {
		op += fmt.Sprintf(" subflows %d", *u.Subflows)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injected(op, Call{Op: "set_limits"}); err != nil {
		return err
	}
	l := k.limits
	for _, f := range []struct {
		v   *uint32
		dst *uint32
	}{{u.AddAddrAccepted, &l.AddAddrAccepted}, {u.Subflows, &l.Subflows}} {
		if f.v == nil {
			continue
		}
		if *f.v > mptcp.MaxLimit {
			return kernelErr(op, unix.EINVAL, fmt.Sprintf("limit greater than maximum (%d)", mptcp.MaxLimit))
		}
		*f.dst = *f.v
	}
	k.limits = l
	return nil
}

// InjectImplicit does what the kernel does when a subflow uses a local
// address that has no endpoint: it adds one flagged implicit, with an id
// it chooses, taking a slot. It returns the id of the endpoint that now
// covers addr (an existing one if any). A full table is ERANGE.
func (k *Kernel) InjectImplicit(addr netip.Addr) (uint8, error) {
	addr = addr.Unmap()
	k.mu.Lock()
	defer k.mu.Unlock()
	if i := k.indexByAddr(addr, 0); i >= 0 {
		return k.list[i].ID, nil
	}
	ep, errno := k.appendEndpoint(mptcp.Endpoint{Addr: addr, Flags: mptcp.FlagImplicit}, true, false)
	if errno != 0 {
		return 0, kernelErr("implicit endpoint "+addr.String(), errno, "")
	}
	return ep.ID, nil
}

// WriteSysctl sets a net.mptcp sysctl by its name without "net.mptcp.".
// An unknown name is ENOENT, as a missing /proc/sys file is.
func (k *Kernel) WriteSysctl(name, value string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		if err := k.fail(Call{Op: "set_sysctl", Sysctl: name, Value: value}); err != nil {
			return fmt.Errorf("write sysctl net.mptcp.%s: %w", name, err)
		}
	}
	if _, ok := k.sysctls[name]; !ok {
		return &os.PathError{Op: "open", Path: "/proc/sys/net/mptcp/" + name, Err: unix.ENOENT}
	}
	k.sysctls[name] = value
	return nil
}

// Sysctls returns the current values of the named sysctls (all of them
// when no name is given); unknown names are left out.
func (k *Kernel) Sysctls(names ...string) map[string]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]string{}
	for n, v := range k.sysctls {
		if len(names) == 0 || slices.Contains(names, n) {
			out[n] = v
		}
	}
	return out
}

// Package host gathers, for one network namespace, what the planner needs
// (the kernel's endpoints, limits and sysctls; the links and addresses) and
// gives Apply the means to change it. The CLI and the daemon share it, so
// both read the kernel the same way.
package host

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/pkg/config"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/netns"
	"github.com/mptcpd/mptcpd/pkg/netstate"
	"github.com/mptcpd/mptcpd/pkg/pm"
	"github.com/mptcpd/mptcpd/pkg/reconcile"
	"github.com/mptcpd/mptcpd/pkg/sysctl"
)

// Host is one network namespace's path manager, links and sysctls.
type Host struct {
	ns  netns.NS
	pm  *pm.Client
	net *netstate.Conn
	// unsupported are endpoint flags this kernel dropped when asked for
	// (see learnDroppedFlags); plans leave them out.
	unsupported mptcp.Flags
}

// Open opens the namespace by name or path ("" for the process's own) and
// dials its path manager and rtnetlink.
func Open(nsName string) (*Host, error) {
	ns, err := netns.Open(nsName)
	if err != nil {
		return nil, err
	}
	h, err := New(ns)
	if err != nil {
		ns.Close()
		return nil, err
	}
	return h, nil
}

// New dials the path manager and rtnetlink in ns. The Host owns ns from
// now on: Close closes it.
func New(ns netns.NS) (*Host, error) {
	client, err := pm.Dial(pm.WithNetNS(ns))
	if err != nil {
		return nil, err
	}
	conn, err := netstate.Dial(ns)
	if err != nil {
		client.Close()
		return nil, err
	}
	return &Host{ns: ns, pm: client, net: conn}, nil
}

// Close releases the sockets and the namespace handle.
func (h *Host) Close() error {
	return errors.Join(h.pm.Close(), h.net.Close(), h.ns.Close())
}

// NS is the namespace the host works in.
func (h *Host) NS() netns.NS { return h.ns }

// PM is the path manager client.
func (h *Host) PM() *pm.Client { return h.pm }

// Net is the rtnetlink reader.
func (h *Host) Net() *netstate.Conn { return h.net }

// Observe reads what the planner compares against cfg: every endpoint, the
// limits (when the file manages them, or cfg is nil), and the sysctls the
// file names (only those: reading the others would cost a file open each
// for nothing). The links and addresses come with it, since they decide
// which endpoints are usable.
func (h *Host) Observe(cfg *config.Config) (reconcile.Observed, netstate.Snapshot, error) {
	var obs reconcile.Observed
	snap, err := h.net.Snapshot()
	if err != nil {
		return obs, snap, fmt.Errorf("read links and addresses: %w", err)
	}
	if obs.Endpoints, err = h.pm.Endpoints(); err != nil {
		return obs, snap, err
	}
	// A file without limits leaves them alone: no need to read them.
	if cfg == nil || cfg.Limits != nil {
		if obs.Limits, err = h.pm.Limits(); err != nil {
			return obs, snap, err
		}
	}
	if cfg != nil && len(cfg.Sysctls) > 0 {
		names := make([]string, len(cfg.Sysctls))
		for i, s := range cfg.Sysctls {
			names[i] = s.Name
		}
		// A sysctl this kernel lacks (path_manager before 6.15, say) must
		// not stop the endpoints from being managed: it stays out of
		// Sysctls, and its write fails alone with the kernel's answer.
		obs.Sysctls, _ = sysctl.ReadNames(h.ns, names)
	}
	return obs, snap, nil
}

// WriteSysctl sets net.mptcp.<name> in the host's namespace.
func (h *Host) WriteSysctl(name, value string) error {
	return sysctl.Write(h.ns, name, value)
}

// Plan reads the kernel and the links and addresses, and plans cfg
// against them.
func (h *Host) Plan(cfg *config.Config, owned reconcile.OwnedSet) (reconcile.Plan, reconcile.Observed, error) {
	p, obs, _, err := h.plan(cfg, owned)
	return p, obs, err
}

func (h *Host) plan(cfg *config.Config, owned reconcile.OwnedSet) (reconcile.Plan, reconcile.Observed, netstate.Snapshot, error) {
	if cfg != nil && h.unsupported != 0 {
		masked := *cfg
		masked.Endpoints = make([]config.Entry, len(cfg.Endpoints))
		for i, e := range cfg.Endpoints {
			e.Flags &^= h.unsupported
			masked.Endpoints[i] = e
		}
		cfg = &masked
	}
	obs, snap, err := h.Observe(cfg)
	if err != nil {
		return reconcile.Plan{}, obs, snap, err
	}
	return reconcile.NewPlan(reconcile.Desired{Config: cfg, Net: snap, Owned: owned}, obs), obs, snap, nil
}

// Kernel is what reconcile.Apply changes: the path manager and the
// namespace's sysctls.
func (h *Host) Kernel() reconcile.Kernel { return reconcile.NewKernel(h.pm, h) }

// DefaultStateDir is where mptcpd remembers the endpoints it created in the
// process's own namespace. /run is cleared at boot, as the kernel's table is.
const DefaultStateDir = "/run/mptcpd"

// StateDir is the state directory for the namespace given to -n: the
// default for the process's own, else a directory per namespace name, so
// that `mptcpd -n blue apply` and the mptcpd@blue service share one memory.
//
// A namespace given by another path (/proc/PID/ns/net, a bind mount
// elsewhere) is named by its inode, so that two namespaces never share a
// control socket or a memory of created endpoints.
func StateDir(nsName string) string {
	if nsName == "" {
		return DefaultStateDir
	}
	if strings.Contains(nsName, "/") && filepath.Dir(filepath.Clean(nsName)) != netns.Dir {
		var st unix.Stat_t
		if unix.Stat(nsName, &st) == nil {
			return filepath.Join(DefaultStateDir, "netns", fmt.Sprintf("ino-%d", st.Ino))
		}
	}
	return filepath.Join(DefaultStateDir, "netns", filepath.Base(nsName))
}

// OwnedStore is the memory of created endpoints in stateDir.
func OwnedStore(stateDir string) reconcile.OwnedStore {
	return reconcile.OwnedStore{Path: filepath.Join(stateDir, "owned.json")}
}

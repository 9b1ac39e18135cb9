package daemon

import (
	"context"
	"os"
	"strconv"

	"github.com/mptcpd/mptcpd/internal/control"
	"github.com/mptcpd/mptcpd/pkg/netstate"
)

// Status answers the control socket's status request.
func (d *daemon) Status(context.Context) control.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := control.Status{
		Daemon:   control.Daemon{PID: os.Getpid(), StartedAt: d.started, Version: d.opts.Version, Runs: d.runs},
		LastRun:  d.lastRun,
		Rejected: d.rejected,
	}
	if d.cfg != nil {
		info := d.cfgInfo
		s.Config = &info
	}
	obs := d.lastOut.Observed
	for _, ep := range d.lastOut.Installed(d.cfg) {
		s.Endpoints = append(s.Endpoints, control.Endpoint{
			Address: ep.Addr, Port: ep.Port, Flags: ep.Flags.Names(),
			State: control.Installed, ID: ep.ID, Dev: ifName(d.lastOut.Net, ep.IfIndex),
		})
	}
	for _, w := range d.lastOut.Remaining.Withheld {
		s.Endpoints = append(s.Endpoints, control.Endpoint{
			Address: w.Address, Port: w.Port, Dev: w.Dev,
			State: control.Withheld, Reason: w.Reason,
		})
	}
	if d.cfg != nil && d.cfg.Limits != nil {
		if v := d.cfg.Limits.Subflows; v != nil {
			s.Limits = append(s.Limits, control.Limit{Name: "subflows", Desired: *v, Actual: obs.Limits.Subflows})
		}
		if v := d.cfg.Limits.AddAddrAccepted; v != nil {
			s.Limits = append(s.Limits, control.Limit{Name: "add_addr_accepted", Desired: *v, Actual: obs.Limits.AddAddrAccepted})
		}
	}
	if d.cfg != nil {
		for _, sc := range d.cfg.Sysctls {
			s.Sysctls = append(s.Sysctls, control.Sysctl{Name: "net.mptcp." + sc.Name, Desired: sc.Value, Actual: obs.Sysctls[sc.Name]})
		}
	}
	for _, f := range d.fights.Fights() {
		s.Fights = append(s.Fights, control.Fight{Key: f.Key, Count: f.Strikes, Culprit: d.culprits[f.Key], BackoffUntil: f.Until})
	}
	return s
}

// ifName names an interface index for status; the index when unknown.
func ifName(net netstate.Snapshot, index int32) string {
	if index == 0 {
		return ""
	}
	if l, ok := net.LinkByIndex(index); ok {
		return l.Name
	}
	return "ifindex " + strconv.Itoa(int(index))
}

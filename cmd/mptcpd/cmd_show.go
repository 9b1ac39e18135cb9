package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"go.yaml.in/yaml/v3"

	"github.com/mptcpd/mptcpd/internal/host"
	"github.com/mptcpd/mptcpd/internal/ipcmd"
	"github.com/mptcpd/mptcpd/pkg/config"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/sysctl"
)

const showUsage = `Usage: mptcpd show [-o yaml|json]
       mptcpd -n NETNS show ...   (in another network namespace)

Prints the live state of the path manager (endpoints, limits and net.mptcp
sysctls) as a config file: save it as /etc/mptcpd.yaml and plan shows no
changes, as long as every endpoint is usable. An endpoint whose address is
not assigned here, whose link is down, or whose device is gone would be
withdrawn by that file: show says so on standard error, one line each.
Kernel-made implicit endpoints are left out (no file can ask for them;
exclusive ownership keeps them until their slot is needed).
`

func showCommand() command {
	return command{
		name:    "show",
		prompt:  true, // waits on nothing: Ctrl-C ends it the usual way
		summary: "print the live state as a config file",
		run: func(_ context.Context, a *app, args []string) error {
			fs := flagSet("show")
			output := fs.String("o", "yaml", "output format: yaml or json")
			if help, err := parseFlags(fs, a, args, showUsage); help || err != nil {
				return err
			}
			if *output != "yaml" && *output != "json" {
				return &ipcmd.UsageError{Msg: fmt.Sprintf("show -o %q: the formats are yaml and json", *output)}
			}
			h, err := openHost(a)
			if err != nil {
				return err
			}
			defer h.Close()
			cfg, err := liveConfig(h)
			if err != nil {
				return err
			}
			warnNotRoundTrip(a, h, cfg)
			b, err := config.Format(cfg)
			if err != nil {
				return fmt.Errorf("render the live state: %w", err)
			}
			if *output == "json" {
				// The JSON form is the YAML file's tree, so both say the same.
				var tree any
				if err := yaml.Unmarshal(b, &tree); err != nil {
					return err
				}
				if b, err = json.MarshalIndent(tree, "", "  "); err != nil {
					return err
				}
				b = append(b, '\n')
			}
			_, err = a.stdout.Write(b)
			return err
		},
	}
}

// liveConfig describes the kernel's state as a config file would.
func liveConfig(h *host.Host) (*config.Config, error) {
	obs, snap, err := h.Observe(nil)
	if err != nil {
		return nil, err
	}
	cfg := &config.Config{
		Version:         config.Version,
		Ownership:       config.Exclusive,
		ManageEndpoints: true,
		Endpoints:       []config.Entry{},
		Limits:          &mptcp.LimitsUpdate{Subflows: &obs.Limits.Subflows, AddAddrAccepted: &obs.Limits.AddAddrAccepted},
	}
	for _, ep := range obs.Endpoints {
		if ep.Flags.Has(mptcp.FlagImplicit) {
			continue
		}
		e := config.Entry{Address: ep.Addr, ID: ep.ID, Port: ep.Port, Flags: ep.Flags & mptcp.KnownFlags &^ mptcp.FlagImplicit}
		if ep.IfIndex != 0 {
			if l, ok := snap.LinkByIndex(ep.IfIndex); ok {
				e.Dev = l.Name
			}
		}
		cfg.Endpoints = append(cfg.Endpoints, e)
	}
	for _, name := range config.SysctlNames() {
		if name == "pm_type" {
			continue // the older alias of path_manager; a file may name only one
		}
		v, err := sysctl.Read(h.NS(), name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // not in this kernel
		}
		if err != nil {
			return nil, err
		}
		cfg.Sysctls = append(cfg.Sysctls, config.Sysctl{Name: name, Value: v})
	}
	return cfg, nil
}

// warnNotRoundTrip tells, on standard error, what a plan of the printed file
// would still change: endpoints that are not usable now (an address not
// assigned, a link down) or that lost their device, which the file cannot
// keep as they are.
func warnNotRoundTrip(a *app, h *host.Host, cfg *config.Config) {
	plan, _, err := h.Plan(cfg, nil)
	if err != nil || plan.Empty() {
		return
	}
	for _, s := range plan.Steps {
		fmt.Fprintf(a.stderr, "Warning: a plan of this file would still change the kernel: %s\n", s)
	}
}

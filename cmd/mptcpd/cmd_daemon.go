package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/mptcpd/mptcpd/internal/control"
	"github.com/mptcpd/mptcpd/internal/daemon"
	"github.com/mptcpd/mptcpd/internal/host"
	"github.com/mptcpd/mptcpd/internal/ipcmd"
	"github.com/mptcpd/mptcpd/internal/logging"
	"github.com/mptcpd/mptcpd/pkg/config"
)

const runUsage = `Usage: mptcpd run [-c FILE] [options]
       mptcpd -n NETNS run ...   (in another network namespace)

Runs the daemon: keeps the path manager of the namespace equal to FILE
(default /etc/mptcpd.yaml) while the file, the links and the addresses
change. Reloads when the file is saved, on SIGHUP and on ` + "`mptcpd reload`" + `.
A rejected file never reaches the kernel: the last good one stays in force.
Stopping leaves the kernel as it is. Under systemd it speaks sd_notify
(Type=notify, WatchdogSec=).

Options:
  -c FILE                  config file (default /etc/mptcpd.yaml)
  --resync-interval DUR    re-read the kernel at least this often, to repair
                           changes made by hand (default 1s)
  --min-interval DUR       at most one run per DUR (default 10ms)
  --state-dir DIR          control socket and memory of created endpoints
                           (default /run/mptcpd; /run/mptcpd/netns/NAME with -n)
  --metrics-listen ADDR    serve Prometheus metrics on ADDR (default off)
  --log-format FMT         auto, console, json or journal (default auto)
  --log-level LEVEL        debug, info, warn or error (default info)
`

func runCommand() command {
	return command{
		name:    "run",
		summary: "run the daemon (what the systemd service starts)",
		run: func(ctx context.Context, a *app, args []string) error {
			fs := flagSet("run")
			opts := daemon.Options{NetNS: a.opts.netns, Version: version}
			fs.StringVar(&opts.ConfigPath, "c", config.DefaultPath, "")
			fs.DurationVar(&opts.ResyncInterval, "resync-interval", daemon.DefaultResyncInterval, "")
			fs.DurationVar(&opts.MinInterval, "min-interval", daemon.DefaultMinInterval, "")
			fs.StringVar(&opts.StateDir, "state-dir", host.StateDir(a.opts.netns), "")
			fs.StringVar(&opts.MetricsListen, "metrics-listen", "", "")
			var logOpts logging.Options
			logOpts.Level = zapcore.InfoLevel
			fs.Var(&logOpts.Format, "log-format", "")
			fs.Var(&logOpts.Level, "log-level", "")
			if help, err := parseFlags(fs, a, args, runUsage); help || err != nil {
				return err
			}
			// The daemon's live heap is under 1 MB; Go's default GOGC lets
			// the heap grow to its 4 MB minimum goal before collecting.
			// Collecting at half that keeps resident memory lower at no
			// visible cost (runs are rare and small). GOGC still wins.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(50)
			}
			log, err := logging.New(logOpts)
			if err != nil {
				return err
			}
			defer log.Sync()
			opts.Logger = log
			if err := daemon.Run(ctx, opts); err != nil {
				// Config errors are FILE:LINE:COL lines: print them as such.
				fmt.Fprintln(a.stderr, err)
				if errors.Is(err, daemon.ErrStoppedUnexpectedly) {
					return &exitError{code: 1, msg: "mptcpd stopped"}
				}
				return &exitError{code: 1, msg: "mptcpd did not start"}
			}
			return nil
		},
	}
}

const reloadUsage = `Usage: mptcpd reload [--state-dir DIR] [--timeout DUR]
       mptcpd -n NETNS reload ...   (in another network namespace)

Asks the running daemon to read its config file again and apply it, and
waits for the answer: exit 0 when the file was applied, 1 when it was
rejected (the daemon stays up on the last good file) or some change failed.
This is the service's ExecReload=, so that systemctl reload is synchronous.
--timeout bounds the wait (default 60s).
`

const statusUsage = `Usage: mptcpd status [-o text|json] [--state-dir DIR] [--timeout DUR]
       mptcpd -n NETNS status ...   (in another network namespace)

Shows the running daemon's state: its last run, the config in force (and a
rejected newer one), each wanted endpoint (installed, or withheld and why),
limits, sysctls, errors and fights with other managers. --timeout bounds
the wait for the daemon's answer (default 60s).
`

// socketFlags adds --state-dir and --timeout and returns the socket path
// getter.
func socketFlags(fs interface {
	StringVar(*string, string, string, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}, a *app, timeout *time.Duration) func() string {
	dir := new(string)
	fs.StringVar(dir, "state-dir", host.StateDir(a.opts.netns), "")
	fs.DurationVar(timeout, "timeout", control.DefaultTimeout, "")
	return func() string { return filepath.Join(*dir, "control.sock") }
}

func reloadCommand() command {
	return command{
		name:    "reload",
		summary: "make the running daemon apply its file now, and wait for the result",
		run: func(ctx context.Context, a *app, args []string) error {
			fs := flagSet("reload")
			var timeout time.Duration
			socket := socketFlags(fs, a, &timeout)
			if help, err := parseFlags(fs, a, args, reloadUsage); help || err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			res, err := control.Reload(ctx, socket())
			if err != nil {
				return err
			}
			out := a.stdout
			if !res.OK() {
				out = a.stderr
			}
			if err := control.WriteReload(out, res); err != nil {
				return err
			}
			if !res.OK() {
				return &exitError{code: 1}
			}
			return nil
		},
	}
}

func statusCommand() command {
	return command{
		name:    "status",
		summary: "show the running daemon's state",
		run: func(ctx context.Context, a *app, args []string) error {
			fs := flagSet("status")
			var timeout time.Duration
			socket := socketFlags(fs, a, &timeout)
			output := fs.String("o", "text", "")
			if help, err := parseFlags(fs, a, args, statusUsage); help || err != nil {
				return err
			}
			if *output != "text" && *output != "json" {
				return &ipcmd.UsageError{Msg: fmt.Sprintf("status -o %q: the formats are text and json", *output)}
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			st, err := control.GetStatus(ctx, socket())
			if err != nil {
				return err
			}
			if *output == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			return control.WriteStatus(a.stdout, st, time.Now())
		},
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mptcpd/mptcpd/internal/host"
	"github.com/mptcpd/mptcpd/internal/ipcmd"
	"github.com/mptcpd/mptcpd/pkg/config"
	"github.com/mptcpd/mptcpd/pkg/reconcile"
	"github.com/mptcpd/mptcpd/pkg/sockdiag"
)

// exitError ends the process with code after the command has printed what
// it had to say itself (config errors as FILE:LINE:COL lines, say).
type exitError struct {
	code int
	msg  string // printed as "Error: msg" when not empty
}

func (e *exitError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.msg
}

// flagSet makes a FlagSet whose parse errors are usage errors that name
// the command's help.
func flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

func parseFlags(fs *flag.FlagSet, a *app, args []string, usage string) (help bool, err error) {
	if len(args) > 0 && isHelpWord(args[0]) {
		fmt.Fprint(a.stdout, usage)
		return true, nil
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(a.stdout, usage)
			return true, nil
		}
		return false, &ipcmd.UsageError{Msg: fmt.Sprintf("%s %s: %v (see `%s %s --help`)", prog, fs.Name(), err, prog, fs.Name())}
	}
	if fs.NArg() > 0 {
		return false, &ipcmd.UsageError{Msg: fmt.Sprintf("%s %s takes no arguments, got %q (see `%s %s --help`)", prog, fs.Name(), strings.Join(fs.Args(), " "), prog, fs.Name())}
	}
	return false, nil
}

// loadConfig reads the file and prints its errors, one FILE:LINE:COL line
// each, to stderr.
func loadConfig(a *app, path string, opts ...config.LoadOption) (*config.Config, error) {
	cfg, err := config.Load(path, opts...)
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(a.stderr, e.Error())
		}
		return nil, &exitError{code: 1, msg: fmt.Sprintf("%s is not valid: %d error(s); nothing was changed", path, len(errs))}
	}
	return cfg, err
}

const checkUsage = `Usage: mptcpd check [-c FILE]

Validates FILE (default /etc/mptcpd.yaml) and prints every error as
FILE:LINE:COL: message. Needs no privilege and talks to no kernel interface,
so it can validate candidate files (Ansible: validate: "mptcpd check -c %s").
Exit status: 0 valid, 1 not valid, 2 usage error.
`

func checkCommand() command {
	return command{
		name:    "check",
		prompt:  true, // waits on nothing: Ctrl-C ends it the usual way
		summary: "validate a config file (no privilege needed)",
		run: func(_ context.Context, a *app, args []string) error {
			fs := flagSet("check")
			path := fs.String("c", config.DefaultPath, "config file")
			if help, err := parseFlags(fs, a, args, checkUsage); help || err != nil {
				return err
			}
			cfg, err := loadConfig(a, *path)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%s: valid (%s)\n", *path, summarize(cfg))
			return err
		},
	}
}

// summarize says in a few words what a valid file manages.
func summarize(cfg *config.Config) string {
	var parts []string
	if cfg.ManageEndpoints {
		parts = append(parts, plural(len(cfg.Endpoints), "endpoint entry"))
	}
	if cfg.Limits != nil {
		parts = append(parts, "limits")
	}
	if len(cfg.Sysctls) > 0 {
		parts = append(parts, plural(len(cfg.Sysctls), "sysctl"))
	}
	if len(parts) == 0 {
		return "manages nothing"
	}
	return strings.Join(parts, ", ") + ", ownership " + string(cfg.Ownership)
}

const planUsage = `Usage: mptcpd plan [-c FILE] [-o text|json] [--detailed-exitcode]
       mptcpd -n NETNS plan ...   (in another network namespace)

Prints what apply would change to make the kernel match FILE (default
/etc/mptcpd.yaml), without changing anything:
  + add        - delete        ~ change in place (no subflow closes)
  -/+ replace (delete then add: live subflows on the address close)
then limits and sysctls, and the wanted endpoints that are withheld (their
link is down, their address missing or tentative, or no slot is free).
A delete or replace says how many live MPTCP subflows use its address.
--detailed-exitcode: exit 0 when there is nothing to do, 2 when changes are
pending, 1 on error.
`

func planCommand() command {
	return command{
		name:    "plan",
		prompt:  true, // waits on nothing: Ctrl-C ends it the usual way
		summary: "show what apply would change, changing nothing",
		run: func(_ context.Context, a *app, args []string) error {
			fs := flagSet("plan")
			path := fs.String("c", config.DefaultPath, "config file")
			output := fs.String("o", "text", "output format: text or json")
			detailed := fs.Bool("detailed-exitcode", false, "exit 2 when changes are pending")
			help, err := parseFlags(fs, a, args, planUsage)
			if help || err != nil {
				// The flag package stops at the first bad flag, so a
				// --detailed-exitcode after it was never parsed.
				return detailedErr(*detailed || asksDetailedExitcode(args), err)
			}
			if *output != "text" && *output != "json" {
				return detailedErr(*detailed, &ipcmd.UsageError{Msg: fmt.Sprintf("plan -o %q: the formats are text and json", *output)})
			}
			plan, subflows, err := makePlan(a, *path)
			if err != nil {
				return detailedErr(*detailed, err)
			}
			if err := printPlan(a.stdout, *output, plan, subflows); err != nil {
				return err
			}
			if *detailed && !plan.Empty() {
				return &exitError{code: 2}
			}
			return nil
		},
	}
}

// asksDetailedExitcode reports whether args give --detailed-exitcode (the
// last mention wins, as when parsed), for a line whose parsing failed
// before reaching it: its usage error must exit 1 too, since 2 would read
// as "changes pending".
func asksDetailedExitcode(args []string) bool {
	asked := false
	for _, arg := range args {
		if arg == "--" {
			break
		}
		if !strings.HasPrefix(arg, "-") {
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if name != "detailed-exitcode" {
			continue
		}
		asked = true
		if hasValue {
			asked, _ = strconv.ParseBool(value)
		}
	}
	return asked
}

// detailedErr makes every failure exit 1 under --detailed-exitcode, where
// 2 means "changes pending".
func detailedErr(detailed bool, err error) error {
	if err == nil || !detailed {
		return err
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return &exitError{code: 1, msg: ee.msg}
	}
	return &exitError{code: 1, msg: err.Error()}
}

func openHost(a *app) (*host.Host, error) {
	return host.Open(a.opts.netns)
}

// makePlan plans the file against the namespace and, when the plan closes
// subflows, counts the live ones on each address it touches.
func makePlan(a *app, path string) (reconcile.Plan, map[netip.Addr]int, error) {
	cfg, err := loadConfig(a, path)
	if err != nil {
		return reconcile.Plan{}, nil, err
	}
	h, err := openHost(a)
	if err != nil {
		return reconcile.Plan{}, nil, err
	}
	defer h.Close()
	owned, err := host.OwnedStore(host.StateDir(a.opts.netns)).Load()
	if err != nil {
		return reconcile.Plan{}, nil, err
	}
	plan, _, err := h.Plan(cfg, owned)
	if err != nil {
		return reconcile.Plan{}, nil, err
	}
	var subflows map[netip.Addr]int
	if plan.Disruptive() {
		subflows, err = sockdiag.CountSubflows(h.NS())
		if err != nil {
			fmt.Fprintf(a.stderr, "Warning: cannot count live subflows: %v\n", err)
			subflows = nil
		}
	}
	return plan, subflows, nil
}

// printPlan writes the plan as text or JSON. subflows is nil when the
// counts are unknown.
func printPlan(w io.Writer, format string, plan reconcile.Plan, subflows map[netip.Addr]int) error {
	if format == "json" {
		b, err := json.Marshal(plan)
		if err != nil {
			return err
		}
		var obj map[string]any
		if err := json.Unmarshal(b, &obj); err != nil {
			return err
		}
		if subflows != nil {
			live := map[string]int{}
			for _, s := range plan.Steps {
				if s.Disruptive {
					live[s.From.Addr.String()] = subflows[s.From.Addr]
				}
			}
			obj["live_subflows"] = live
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(obj)
	}
	var b strings.Builder
	for _, s := range plan.Steps {
		b.WriteString(s.String())
		if s.Disruptive {
			b.WriteString(closesText(s, subflows))
		}
		b.WriteByte('\n')
	}
	for _, wh := range plan.Withheld {
		b.WriteString("withheld " + wh.String() + "\n")
	}
	if plan.Empty() {
		b.WriteString("no changes\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func closesText(s reconcile.Step, subflows map[netip.Addr]int) string {
	if subflows == nil {
		return " [closes the live subflows on " + s.From.Addr.String() + ", if any]"
	}
	n := subflows[s.From.Addr]
	if n == 1 {
		return " [closes 1 live subflow]"
	}
	return fmt.Sprintf(" [closes %d live subflows]", n)
}

const applyUsage = `Usage: mptcpd apply [-c FILE]
       mptcpd -n NETNS apply ...   (in another network namespace)

Makes the kernel match FILE (default /etc/mptcpd.yaml) with the fewest and
least disruptive changes, and prints each change. Exit 0 only when the kernel
then matches the file. A file with errors changes nothing. The file must be
writable by root only (whoever can write it decides where traffic flows).
`

func applyCommand() command {
	return command{
		name:    "apply",
		prompt:  true, // waits on nothing: Ctrl-C ends it the usual way
		summary: "make the kernel match the config file",
		run: func(_ context.Context, a *app, args []string) error {
			fs := flagSet("apply")
			path := fs.String("c", config.DefaultPath, "config file")
			if help, err := parseFlags(fs, a, args, applyUsage); help || err != nil {
				return err
			}
			cfg, err := loadConfig(a, *path, config.RequireSecureFile())
			if err != nil {
				return err
			}
			h, err := openHost(a)
			if err != nil {
				return err
			}
			defer h.Close()
			out, err := h.Converge(cfg, host.OwnedStore(host.StateDir(a.opts.netns)), nil)
			printApplied(a.stdout, out)
			if err != nil {
				return err
			}
			if !out.Converged() {
				return &exitError{code: 1, msg: fmt.Sprintf("the kernel does not match %s yet; still to do:\n%s", *path, strings.TrimSuffix(out.Remaining.String(), "\n"))}
			}
			return nil
		},
	}
}

// printApplied prints the steps that were carried out, then the wanted
// endpoints that are withheld.
func printApplied(w io.Writer, out host.Outcome) {
	done := map[int]bool{}
	for _, d := range out.Result.Done {
		done[d.Step] = true
	}
	for i, s := range out.Plan.Steps {
		if done[i] {
			fmt.Fprintln(w, s.String())
		}
	}
	for _, wh := range out.Remaining.Withheld {
		fmt.Fprintln(w, "withheld "+wh.String())
	}
	if out.Plan.Empty() {
		fmt.Fprintln(w, "no changes")
	}
}

// plural says "1 sysctl", "2 sysctls", "1 endpoint entry", "3 endpoint
// entries".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

package main

import (
	"fmt"
	"strings"

	"github.com/mptcpd/mptcpd/internal/ipcmd"
)

// options are the global options, given before the command as with ip:
// `mptcpd -n blue -j -p endpoint show`.
type options struct {
	netns    string
	json     bool
	pretty   bool
	force    bool
	batch    string
	batchSet bool
	help     bool
	version  bool
}

// globalOption is one global option. Like ip's options it may be
// shortened to any prefix of at least min characters (dash included), and
// written with one dash or two.
type globalOption struct {
	name  string
	min   int
	value string // the value's name, or "" for a switch
	help  string
	set   func(o *options, v string)
}

// globalOptions lists the options in the order help prints them. Their
// shortest prefixes do not collide, so the order does not decide a match.
func globalOptions() []globalOption {
	return []globalOption{
		{"-netns", 2, "NETNS", "act on network namespace NETNS (a name under /run/netns, or a path)", func(o *options, v string) { o.netns = v }},
		{"-json", 2, "", "print JSON", func(o *options, _ string) { o.json = true }},
		{"-pretty", 2, "", "with -json: indent the JSON", func(o *options, _ string) { o.pretty = true }},
		{"-batch", 2, "FILE", "run the commands of FILE (- for standard input), one per line", func(o *options, v string) { o.batch, o.batchSet = v, true }},
		{"-force", 3, "", "with -batch: go on after a failed command", func(o *options, _ string) { o.force = true }},
		{"-help", 2, "", "print this help", func(o *options, _ string) { o.help = true }},
		{"-Version", 2, "", "print the version", func(o *options, _ string) { o.version = true }},
		{"-version", 2, "", "", func(o *options, _ string) { o.version = true }},
	}
}

// parseOptions reads the global options and returns the rest of the line.
func parseOptions(args []string) (options, []string, error) {
	var o options
	for len(args) > 0 {
		arg := args[0]
		if arg == "--" {
			return o, args[1:], nil
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			break
		}
		opt := arg
		if strings.HasPrefix(opt, "--") {
			opt = opt[1:]
		}
		g, ok := findOption(opt)
		if !ok {
			return o, nil, &ipcmd.UsageError{Msg: fmt.Sprintf("unknown option %q: the options are %s", arg, optionNames())}
		}
		v := ""
		if g.value != "" {
			if len(args) < 2 {
				return o, nil, &ipcmd.UsageError{Msg: fmt.Sprintf("option %s needs a value: %s %s", arg, g.name, g.value)}
			}
			v = args[1]
			args = args[1:]
		}
		g.set(&o, v)
		args = args[1:]
	}
	return o, args, nil
}

func findOption(opt string) (globalOption, bool) {
	for _, g := range globalOptions() {
		if len(opt) >= g.min && strings.HasPrefix(g.name, opt) {
			return g, true
		}
	}
	return globalOption{}, false
}

func optionNames() string {
	var names []string
	for _, g := range globalOptions() {
		if g.help != "" {
			names = append(names, g.name)
		}
	}
	return strings.Join(names, ", ")
}

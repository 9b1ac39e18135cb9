package main

import (
	"context"
	"strings"
)

// command is one top-level command. A new one is a file that returns a
// command, plus one line in commands().
type command struct {
	name string
	// prefix lets the name be shortened to any prefix, as ip's words can
	// be ("endp" for endpoint). Only the ip-mptcp commands have it; the
	// order of commands() decides between them, as ip's order does.
	prefix bool
	// summary is the line `mptcpd help` prints.
	summary string
	// prompt marks a command that returns without waiting: it runs
	// without the SIGINT/SIGTERM context, whose setup and teardown cost a
	// short command much of its run time. Long-running commands leave it
	// false and end when ctx is done.
	prompt bool
	// run gets the words after the command's name. Each command answers
	// "help", "-h" and "--help" with its own help.
	run func(ctx context.Context, a *app, args []string) error
}

// commands is the table of top-level commands, help first (ip takes "h"
// for help), then ip's order: endpoint, limits, monitor.
func commands() []command {
	return []command{
		helpCommand(),
		endpointCommand(),
		limitsCommand(),
		monitorCommand(),
		checkCommand(),
		planCommand(),
		applyCommand(),
		showCommand(),
		runCommand(),
		reloadCommand(),
		statusCommand(),
		versionCommand(),
	}
}

// lookup finds the command a word names: its exact name, else the first
// prefix command it is a prefix of.
func lookup(cmds []command, word string) (command, bool) {
	for _, c := range cmds {
		if c.name == word {
			return c, true
		}
	}
	for _, c := range cmds {
		if c.prefix && word != "" && strings.HasPrefix(c.name, word) {
			return c, true
		}
	}
	return command{}, false
}

func commandNames() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return names
}

// isHelpWord reports whether a word asks a command for its help.
func isHelpWord(word string) bool {
	return word == "help" || word == "-h" || word == "--help" || word == "-help"
}

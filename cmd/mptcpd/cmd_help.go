package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mptcpd/mptcpd/internal/ipcmd"
)

func helpCommand() command {
	return command{
		name:    "help",
		prefix:  true,
		summary: "print this help, or a command's: help COMMAND",
		prompt:  true,
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) == 0 {
				return writeHelp(a.stdout)
			}
			cmd, ok := lookup(commands(), args[0])
			if !ok || cmd.name == "help" {
				return &ipcmd.UsageError{Msg: fmt.Sprintf("no help for %q: the commands are %s", args[0], strings.Join(commandNames(), ", "))}
			}
			return cmd.run(ctx, a, []string{"help"})
		},
	}
}

// writeHelp prints the overview: global options, commands, the ip-mptcp
// language and the exit statuses.
func writeHelp(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s [ OPTIONS ] COMMAND [ ARGS ]\n", prog)
	fmt.Fprintf(&b, "       %s [ OPTIONS ] -batch FILE\n\nOptions:\n", prog)
	for _, g := range globalOptions() {
		if g.help == "" {
			continue
		}
		left := g.name
		if g.value != "" {
			left += " " + g.value
		}
		fmt.Fprintf(&b, "  %-14s %s\n", left, g.help)
	}
	b.WriteString("\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-14s %s\n", c.name, c.summary)
	}
	b.WriteString("\nThe ip-mptcp commands, as ip mptcp takes them:\n")
	b.WriteString(ipcmd.Usage(prog, ""))
	_, err := io.WriteString(w, b.String())
	return err
}

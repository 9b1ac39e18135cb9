package main

import (
	"context"

	"github.com/mptcpd/mptcpd/internal/ipcmd"
)

// The ip-mptcp commands: their words after the name are ip's, parsed by
// ipcmd. All are prompt; monitor, the one that waits, installs its own
// SIGINT/SIGTERM handler.

func endpointCommand() command {
	return ipCommand("endpoint", "add, delete, change, show or flush endpoints, as ip mptcp endpoint")
}

func limitsCommand() command {
	return ipCommand("limits", "set or show the limits, as ip mptcp limits")
}

func monitorCommand() command {
	return ipCommand("monitor", "print path manager events as they happen, as ip mptcp monitor")
}

func ipCommand(name, summary string) command {
	return command{
		name:    name,
		prefix:  true,
		summary: summary,
		prompt:  true,
		run: func(ctx context.Context, a *app, args []string) error {
			env, err := a.ipEnv()
			if err != nil {
				return err
			}
			return ipcmd.Run(ctx, env, append([]string{name}, args...))
		},
	}
}

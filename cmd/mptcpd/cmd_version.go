package main

import (
	"context"
	"fmt"
)

func versionCommand() command {
	return command{
		name:    "version",
		summary: "print the version",
		prompt:  true,
		run: func(_ context.Context, a *app, args []string) error {
			if len(args) > 0 && isHelpWord(args[0]) {
				_, err := fmt.Fprintf(a.stdout, "Usage: %s version\nPrints the version of %s.\n", prog, prog)
				return err
			}
			return printVersion(a)
		},
	}
}

func printVersion(a *app) error {
	_, err := fmt.Fprintf(a.stdout, "%s %s\n", prog, version)
	return err
}

// Command mptcpd keeps the kernel's MPTCP path manager (endpoints, limits,
// net.mptcp sysctls) equal to a YAML file. Its command line also speaks
// ip-mptcp(8): `mptcpd endpoint show` prints what `ip mptcp endpoint show`
// prints.
//
// This file only reads the global options and hands the rest of the line
// to a command of the table in commands.go.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mptcpd/mptcpd/internal/ipcmd"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

const prog = "mptcpd"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	opts, rest, err := parseOptions(args)
	if err != nil {
		ipcmd.Report(stderr, prog, err)
		return ipcmd.ExitCode(err)
	}
	a := &app{opts: opts, stdin: stdin, stdout: stdout, stderr: stderr}
	defer a.close()
	err = dispatch(ctx, a, rest)
	var ee *exitError
	if errors.As(err, &ee) {
		// The command printed its own account; add only its summary.
		if ee.msg != "" {
			fmt.Fprintf(stderr, "Error: %s\n", ee.msg)
		}
		return ee.code
	}
	ipcmd.Report(stderr, prog, err)
	return ipcmd.ExitCode(err)
}

func dispatch(ctx context.Context, a *app, args []string) error {
	switch {
	case a.opts.help:
		return writeHelp(a.stdout)
	case a.opts.version:
		return printVersion(a)
	case a.opts.batchSet:
		if len(args) > 0 {
			return &ipcmd.UsageError{Msg: fmt.Sprintf("-batch takes its commands from the file, not from the command line (%q)", strings.Join(args, " "))}
		}
		return runBatch(ctx, a)
	case len(args) == 0:
		writeHelp(a.stderr)
		return &ipcmd.UsageError{Msg: "missing command"}
	}
	cmd, ok := lookup(commands(), args[0])
	if !ok {
		return &ipcmd.UsageError{Msg: fmt.Sprintf("unknown command %q: expected one of %s", args[0], strings.Join(commandNames(), ", "))}
	}
	if !cmd.prompt {
		// SIGINT and SIGTERM end the command through ctx. A prompt command
		// goes without: installing the handler starts goroutines and
		// removing it waits for them, which costs a quick command (or a
		// batch of them) a good part of its run time.
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	return cmd.run(ctx, a, args[1:])
}

// runBatch runs `-batch FILE` ("-" for standard input). It is prompt: a
// monitor line installs its own signal handler (see ipcmd.Batch).
func runBatch(ctx context.Context, a *app) error {
	env, err := a.ipEnv()
	if err != nil {
		return err
	}
	in := a.stdin
	if a.opts.batch != "-" {
		f, err := os.Open(a.opts.batch)
		if err != nil {
			return fmt.Errorf("cannot open batch file: %w", err)
		}
		defer f.Close()
		in = f
	}
	return ipcmd.Batch(ctx, env, in, a.opts.batch, a.opts.force)
}

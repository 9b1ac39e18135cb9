package main

import (
	"errors"
	"io"

	"github.com/mptcpd/mptcpd/internal/ipcmd"
	"github.com/mptcpd/mptcpd/pkg/netns"
)

// app is what every command runs with: the global options, the standard
// streams, and the kernel session, opened on first use and shared by all
// the commands of a batch.
type app struct {
	opts   options
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	ns      netns.NS
	session *ipcmd.Session
}

// ipEnv returns the environment of the ip-mptcp commands, opening the
// network namespace (-n) on first use. Nothing is dialed yet: each socket
// is opened by the first command that needs it.
func (a *app) ipEnv() (ipcmd.Env, error) {
	if a.session == nil {
		ns, err := netns.Open(a.opts.netns)
		if err != nil {
			return ipcmd.Env{}, err
		}
		a.ns = ns
		a.session = ipcmd.NewSession(ns)
	}
	return ipcmd.Env{
		Stdout: a.stdout,
		Stderr: a.stderr,
		Format: ipcmd.Format{JSON: a.opts.json, Pretty: a.opts.pretty},
		Kernel: a.session,
		Prog:   prog,
	}, nil
}

func (a *app) close() error {
	var errs []error
	if a.session != nil {
		errs = append(errs, a.session.Close())
		errs = append(errs, a.ns.Close())
		a.session = nil
	}
	return errors.Join(errs...)
}

package ipcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/pm"
)

// Env is what commands run with.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	// Format is how show and monitor print.
	Format Format
	// Kernel is the namespace the commands act on; a *Session dials its
	// sockets once and reuses them for every command.
	Kernel Kernel
	// Prog names the program in help texts and error hints ("mptcpd").
	Prog string
}

func (e Env) prog() string {
	if e.Prog == "" {
		return "mptcpd"
	}
	return e.Prog
}

// Run parses and runs one command.
func Run(ctx context.Context, env Env, args []string) error {
	cmd, err := Parse(args)
	if err != nil {
		return err
	}
	return Execute(ctx, env, cmd)
}

// Execute runs a parsed command.
func Execute(ctx context.Context, env Env, cmd Command) error {
	if cmd.Op == OpHelp {
		_, err := io.WriteString(env.Stdout, Usage(env.prog(), cmd.Topic))
		return err
	}
	if cmd.Op == OpMonitor {
		return monitor(ctx, env)
	}
	c, err := env.Kernel.PathManager()
	if err != nil {
		return err
	}
	switch cmd.Op {
	case OpEndpointAdd:
		return add(env, c, cmd)
	case OpEndpointDelete:
		return del(env, c, cmd)
	case OpEndpointChange:
		return change(env, c, cmd)
	case OpEndpointShow:
		return show(env, c, cmd)
	case OpEndpointFlush:
		return c.Flush()
	case OpLimitsSet:
		return explain(c.SetLimits(cmd.Limits), limitsHints)
	case OpLimitsShow:
		l, err := c.Limits()
		if err != nil {
			return err
		}
		_, err = io.WriteString(env.Stdout, FormatLimits(l, env.Format))
		return err
	}
	return fmt.Errorf("command %v cannot run", cmd.Op)
}

// resolveDev finds the device named by "dev" in the kernel's namespace.
// A missing device is a usage error, as in iproute2.
func resolveDev(env Env, cmd Command) (int32, error) {
	if cmd.Dev == "" {
		return 0, nil
	}
	links, err := env.Kernel.Links()
	if err != nil {
		return 0, err
	}
	idx, ok, err := links.IndexByName(cmd.Dev)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, usagef(cmd.Op.String(), "device %q does not exist in this network namespace", cmd.Dev)
	}
	// The kernel's attribute is signed; iproute2 sends the bits as they are.
	return int32(idx), nil
}

func add(env Env, c PathManager, cmd Command) error {
	ep := cmd.Endpoint
	idx, err := resolveDev(env, cmd)
	if err != nil {
		return err
	}
	ep.IfIndex = idx
	_, err = c.AddEndpoint(ep)
	return explain(err, addHints(ep))
}

func del(env Env, c PathManager, cmd Command) error {
	// iproute2 sends the device too, and the kernel ignores it; it must
	// still exist, as iproute2 checks that.
	if _, err := resolveDev(env, cmd); err != nil {
		return err
	}
	if cmd.Endpoint.ID == 0 {
		// Never a delete of an endpoint: see pm.Client.CloseInitialSubflows.
		return c.CloseInitialSubflows(cmd.Endpoint.Addr)
	}
	return explain(c.DeleteEndpoint(cmd.Endpoint.ID), []hint{
		{unix.EINVAL, fmt.Sprintf("no endpoint has id %d", cmd.Endpoint.ID)},
	})
}

// change sets backup and fullmesh to exactly the flags named on the line,
// as `ip mptcp endpoint change` does: `change id 1 backup` on a fullmesh
// endpoint also clears fullmesh, and `nobackup` alone clears both.
func change(env Env, c PathManager, cmd Command) error {
	if _, err := resolveDev(env, cmd); err != nil {
		return err
	}
	ep := cmd.Endpoint
	ep.Flags &= mptcp.MutableFlags
	target := fmt.Sprintf("id %d", ep.ID)
	if ep.Addr.IsValid() {
		target = formatAddr(ep.Addr)
		if ep.Port != 0 {
			target += fmt.Sprintf(" port %d", ep.Port)
		}
	}
	return explain(c.SetFlags(ep), []hint{
		{unix.EINVAL, "no endpoint matches " + target + ", or it cannot take these flags (fullmesh is refused on a signal endpoint)"},
	})
}

func show(env Env, c PathManager, cmd Command) error {
	var eps []mptcp.Endpoint
	if cmd.IDSet {
		ep, err := c.Endpoint(cmd.Endpoint.ID)
		if err != nil {
			return explain(err, []hint{{unix.EINVAL, fmt.Sprintf("no endpoint has id %d", cmd.Endpoint.ID)}})
		}
		eps = []mptcp.Endpoint{ep}
	} else {
		var err error
		if eps, err = c.Endpoints(); err != nil {
			return err
		}
	}
	shown := make([]ShownEndpoint, len(eps))
	for i, ep := range eps {
		shown[i].Endpoint = ep
		if ep.IfIndex == 0 {
			continue
		}
		links, err := env.Kernel.Links()
		if err != nil {
			return err
		}
		if shown[i].Dev, err = links.NameByIndex(uint32(ep.IfIndex)); err != nil {
			return err
		}
	}
	_, err := io.WriteString(env.Stdout, FormatEndpoints(shown, env.Format))
	return err
}

// untilSignal returns a context that ends with ctx or at SIGINT or SIGTERM.
// Only commands that wait install it: a handler costs a short command a
// good part of its run time.
func untilSignal(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// hint adds what a kernel errno most likely means for one request; the
// kernel's own words are generic ("too many addresses or duplicate one").
type hint struct {
	errno unix.Errno
	text  string
}

func explain(err error, hints []hint) error {
	if err == nil {
		return nil
	}
	for _, h := range hints {
		if errors.Is(err, h.errno) {
			return fmt.Errorf("%w; %s", err, h.text)
		}
	}
	return err
}

var limitsHints = []hint{
	{unix.EINVAL, "each limit is 0..8"},
}

func addHints(ep mptcp.Endpoint) []hint {
	addr := formatAddr(ep.Addr.Unmap())
	exists := "an endpoint with address " + addr + portText(ep.Port) + " already exists"
	if ep.Addr.Is4In6() {
		exists += " (an IPv4-mapped IPv6 address is the same as its IPv4 address)"
	}
	return []hint{
		{unix.EEXIST, exists},
		{unix.EBUSY, fmt.Sprintf("endpoint id %d is taken", ep.ID)},
		{unix.ERANGE, fmt.Sprintf("the namespace already has %d endpoints, the kernel's maximum", mptcp.MaxEndpoints)},
		{unix.EADDRNOTAVAIL, "an endpoint with a port listens on it, so its address must be one of this namespace's: " + addr + " is not"},
		{unix.EADDRINUSE, fmt.Sprintf("port %d is already in use on %s", ep.Port, addr)},
		{unix.EINVAL, "the kernel takes a port only on a signal endpoint without subflow, and refuses an explicit id for an address it made an implicit endpoint for"},
	}
}

func portText(port uint16) string {
	if port == 0 {
		return ""
	}
	return fmt.Sprintf(" port %d", port)
}

// monitor prints path manager events until ctx is done or SIGINT or
// SIGTERM arrives, which is its normal end.
func monitor(ctx context.Context, env Env) error {
	ctx, stop := untilSignal(ctx)
	defer stop()
	events, err := env.Kernel.Events()
	if err != nil {
		return err
	}
	defer events.Close()
	for {
		ev, err := events.Next(ctx)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, pm.ErrEventsLost):
			fmt.Fprintf(env.Stderr, "Warning: %v\n", err)
			continue
		default:
			return err
		}
		if _, err := io.WriteString(env.Stdout, FormatEvent(ev, ev.Has, env.Format)); err != nil {
			return err
		}
	}
}

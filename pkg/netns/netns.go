// Package netns names a network namespace the way mptcpd's users do (a name
// under /run/netns, a path, or an open file descriptor) and runs code inside
// one. Netlink sockets only need the namespace's file descriptor; files under
// /proc/sys/net need a thread that has entered the namespace.
package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is where iproute2 keeps named namespaces.
const Dir = "/run/netns"

// NS is a handle on a network namespace. The zero value is the namespace of
// the calling process.
type NS struct {
	f *os.File
}

// Current returns the zero NS: the namespace of the process.
func Current() NS { return NS{} }

// Open opens a namespace by name (as `ip netns` knows it) or by path (any
// argument that contains a slash). The empty string means the current one.
func Open(nameOrPath string) (NS, error) {
	if nameOrPath == "" {
		return NS{}, nil
	}
	path := nameOrPath
	if !strings.Contains(nameOrPath, "/") {
		path = filepath.Join(Dir, nameOrPath)
	}
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) && !strings.Contains(nameOrPath, "/") {
			return NS{}, fmt.Errorf("network namespace %q not found (no %s; create it with `ip netns add %s`)", nameOrPath, path, nameOrPath)
		}
		return NS{}, fmt.Errorf("open network namespace: %w", err)
	}
	// Ask the file itself: any other file (or another kind of namespace)
	// would fail later with a bare "setns: invalid argument".
	if t, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE); err != nil || t != unix.CLONE_NEWNET {
		f.Close()
		return NS{}, fmt.Errorf("%s is not a network namespace file (as made by `ip netns add`, or /proc/PID/ns/net)", path)
	}
	return NS{f: f}, nil
}

// FromFD wraps a namespace file descriptor that the caller keeps open for as
// long as the NS is used. Close on the result does not close fd.
func FromFD(fd int) (NS, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return NS{}, fmt.Errorf("network namespace fd %d: %w", fd, err)
	}
	return NS{f: os.NewFile(uintptr(dup), fmt.Sprintf("netns-fd-%d", fd))}, nil
}

// IsCurrent reports whether this is the process's own namespace (no file).
func (ns NS) IsCurrent() bool { return ns.f == nil }

// FD returns the namespace file descriptor, or -1 for the current namespace.
// netlink.Config.NetNS takes it as it is (0 there means "current", so the
// caller must map -1 to 0).
func (ns NS) FD() int {
	if ns.f == nil {
		return -1
	}
	return int(ns.f.Fd())
}

// NetlinkFD is FD in the form netlink.Config.NetNS expects: 0 for the
// current namespace.
func (ns NS) NetlinkFD() int {
	if ns.f == nil {
		return 0
	}
	return int(ns.f.Fd())
}

// Close releases the namespace handle.
func (ns NS) Close() error {
	if ns.f == nil {
		return nil
	}
	return ns.f.Close()
}

// Do runs fn on an OS thread that has entered the namespace. The thread is
// thrown away afterwards (its namespace is not restored), so a failure to
// switch back can never leak into other goroutines.
func (ns NS) Do(fn func() error) error {
	if ns.f == nil {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine exits, the runtime ends the
		// thread instead of reusing it in the wrong namespace.
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

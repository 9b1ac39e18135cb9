// Package sysctl reads and writes the net.mptcp.* sysctls of a network
// namespace. Files under /proc/sys/net show the namespace of the thread that
// opens them, so every access runs inside the namespace (netns.NS.Do).
// Names are given without the "net.mptcp." prefix: "enabled",
// "path_manager", ...
package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mptcpd/mptcpd/pkg/netns"
	"golang.org/x/sys/unix"
)

// Dir is where the kernel exposes net.mptcp.* (of the opening thread's
// network namespace).
const Dir = "/proc/sys/net/mptcp"

// Prefix is the sysctl(8) name prefix of every setting this package handles.
const Prefix = "net.mptcp."

// Read returns the value of net.mptcp.<name> in ns, without the trailing
// newline.
func Read(ns netns.NS, name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", &Error{Op: "read", Name: name, Err: err}
	}
	var value string
	err := ns.Do(func() error {
		b, err := os.ReadFile(filepath.Join(Dir, name))
		if err != nil {
			return describe(&Error{Op: "read", Name: name, Err: errnoOf(err)})
		}
		value = trim(b)
		return nil
	})
	return value, err
}

// Write sets net.mptcp.<name> in ns. It needs CAP_NET_ADMIN over the
// namespace (root, for the host's namespaces).
func Write(ns netns.NS, name, value string) error {
	if err := checkName(name); err != nil {
		return &Error{Op: "write", Name: name, Value: value, Err: err}
	}
	if value == "" {
		// The kernel takes an empty write as success and changes nothing.
		return &Error{Op: "write", Name: name, Value: value, Err: errors.New("empty value")}
	}
	return ns.Do(func() error {
		e := &Error{Op: "write", Name: name, Value: value}
		// No O_CREAT or O_TRUNC: procfs entries exist or they do not.
		f, err := os.OpenFile(filepath.Join(Dir, name), os.O_WRONLY, 0)
		if err != nil {
			e.Err = errnoOf(err)
			return describe(e)
		}
		// The kernel parses the whole value from a single write; errors
		// about the value (EINVAL, or ENOENT for an unknown path manager or
		// scheduler) come from this write, not from the open.
		_, werr := f.Write([]byte(value))
		cerr := f.Close()
		if werr == nil {
			werr = cerr
		}
		if werr != nil {
			e.Err = errnoOf(werr)
			e.Refused = true
			return describe(e)
		}
		return nil
	})
}

// ReadNames reads several sysctls of ns in one visit to the namespace (a
// Read each would take one throwaway thread each), keyed by name. A name
// that cannot be read is left out of the map, and its error joins the
// error returned, so the caller can go on with the others.
func ReadNames(ns netns.NS, names []string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	var errs []error
	err := ns.Do(func() error {
		for _, name := range names {
			if err := checkName(name); err != nil {
				errs = append(errs, &Error{Op: "read", Name: name, Err: err})
				continue
			}
			b, err := os.ReadFile(filepath.Join(Dir, name))
			if err != nil {
				errs = append(errs, describe(&Error{Op: "read", Name: name, Err: errnoOf(err)}))
				continue
			}
			out[name] = trim(b)
		}
		return nil
	})
	return out, errors.Join(append(errs, err)...)
}

// ReadAll returns every net.mptcp.* sysctl of ns (read-only ones such as
// available_schedulers included), keyed by name without the prefix.
func ReadAll(ns netns.NS) (map[string]string, error) {
	out := make(map[string]string)
	err := ns.Do(func() error {
		entries, err := os.ReadDir(Dir)
		if err != nil {
			return fmt.Errorf("read net.mptcp sysctls: %w", missingMPTCP(err))
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(Dir, e.Name()))
			if err != nil {
				return describe(&Error{Op: "read", Name: e.Name(), Err: errnoOf(err)})
			}
			out[e.Name()] = trim(b)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Error is a failed read or write of one sysctl. It unwraps to the errno
// (errors.Is(err, fs.ErrNotExist), errors.Is(err, unix.EINVAL) work).
type Error struct {
	Op    string // "read" or "write"
	Name  string // without the net.mptcp. prefix
	Value string // the value written, for writes
	// Refused is set when the kernel rejected the value itself (the file
	// exists and was opened).
	Refused bool
	// Known lists the sysctls that do exist, when Name does not.
	Known []string
	// Accepted lists what the kernel offers for this setting (from its
	// available_* companion file), when it refused a value.
	Accepted string
	// ReadOnly is set when the sysctl exists but cannot be written.
	ReadOnly bool
	Err      error
}

func (e *Error) Error() string {
	full := Prefix + e.Name
	what := e.Op + " " + full
	if e.Op == "write" {
		what = fmt.Sprintf("write %s=%q", full, e.Value)
	}
	switch {
	case e.Refused && (errors.Is(e.Err, unix.EINVAL) || errors.Is(e.Err, unix.ENOENT) || errors.Is(e.Err, unix.ERANGE)):
		msg := fmt.Sprintf("%s: the kernel refused the value (%v)", what, e.Err)
		if e.Accepted != "" {
			msg += "; available: " + e.Accepted
		}
		return msg
	case e.ReadOnly:
		return fmt.Sprintf("%s: %s is read-only", what, full)
	case errors.Is(e.Err, errNoMPTCP):
		return fmt.Sprintf("%s: %v", what, errNoMPTCP)
	case errors.Is(e.Err, unix.ENOENT):
		if len(e.Known) == 0 {
			return fmt.Sprintf("%s: no such sysctl", what)
		}
		return fmt.Sprintf("%s: no such sysctl (known: %s)", what, strings.Join(e.Known, ", "))
	case errors.Is(e.Err, unix.EPERM) || errors.Is(e.Err, unix.EACCES):
		return fmt.Sprintf("%s: %v: needs CAP_NET_ADMIN over the network namespace (run as root)", what, e.Err)
	default:
		return fmt.Sprintf("%s: %v", what, e.Err)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// describe fills in what a reader needs to act on e. It runs inside the
// namespace, since the facts it gathers are per namespace.
func describe(e *Error) error {
	switch {
	case e.Refused:
		// path_manager lists its choices in available_path_managers,
		// scheduler in available_schedulers.
		if b, err := os.ReadFile(filepath.Join(Dir, "available_"+e.Name+"s")); err == nil {
			e.Accepted = trim(b)
		}
	case errors.Is(e.Err, unix.ENOENT):
		known, err := names()
		if err != nil {
			e.Err = missingMPTCP(err)
			return e
		}
		e.Known = known
	case e.Op == "write" && (errors.Is(e.Err, unix.EACCES) || errors.Is(e.Err, unix.EPERM)):
		if st, err := os.Stat(filepath.Join(Dir, e.Name)); err == nil && st.Mode().Perm()&0o222 == 0 {
			e.ReadOnly = true
		}
	}
	return e
}

// names lists the sysctls of the current thread's namespace.
func names() ([]string, error) {
	entries, err := os.ReadDir(Dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// errNoMPTCP is returned when the kernel has no net.mptcp sysctls at all.
var errNoMPTCP = errors.New("this kernel has no MPTCP support (no " + Dir + ")")

func missingMPTCP(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", errNoMPTCP, unix.ENOENT)
	}
	return err
}

// checkName refuses names that would leave net.mptcp (a slash or "..") or
// that carry the full sysctl(8) prefix.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty sysctl name")
	case strings.HasPrefix(name, Prefix):
		return fmt.Errorf("name %q must not carry the %q prefix", name, Prefix)
	case strings.ContainsAny(name, "/\x00") || name == "." || name == "..":
		return fmt.Errorf("invalid sysctl name %q", name)
	}
	return nil
}

// errnoOf reduces an *fs.PathError to its errno: the path is an
// implementation detail, the sysctl name is what the user knows.
func errnoOf(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

func trim(b []byte) string { return strings.TrimSuffix(string(b), "\n") }

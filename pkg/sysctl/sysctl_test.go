package sysctl

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/pkg/netns"
	"golang.org/x/sys/unix"
)

// openNS makes a fresh namespace and opens it.
func openNS(t *testing.T) (string, netns.NS) {
	t.Helper()
	name := nstest.NewNS(t)
	ns, err := netns.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return name, ns
}

// reference reads net.mptcp.<name> with sysctl(8) inside the namespace.
func reference(t *testing.T, nsName, name string) string {
	t.Helper()
	out, err := nstest.Exec(nsName, "sysctl", "-n", Prefix+name)
	if err != nil {
		t.Fatalf("sysctl -n %s%s: %v: %s", Prefix, name, err, out)
	}
	return strings.TrimSuffix(out, "\n")
}

func TestReadAllMatchesSysctl(t *testing.T) {
	nsName, ns := openNS(t)

	got, err := ReadAll(ns)
	if err != nil {
		t.Fatal(err)
	}

	out, err := nstest.Exec(nsName, "ls", Dir)
	if err != nil {
		t.Fatalf("ls %s: %v: %s", Dir, err, out)
	}
	want := make(map[string]string)
	for _, name := range strings.Fields(out) {
		want[name] = reference(t, nsName, name)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadAll differs from sysctl(8) (-want +got):\n%s", diff)
	}

	// The defaults of a fresh namespace (KERNEL.md).
	defaults := map[string]string{
		"enabled":                      "1",
		"path_manager":                 "kernel",
		"add_addr_timeout":             "120",
		"allow_join_initial_addr_port": "1",
		"checksum_enabled":             "0",
		"scheduler":                    "default",
		"stale_loss_cnt":               "4",
	}
	for name, value := range defaults {
		if got[name] != value {
			t.Errorf("ReadAll()[%q] = %q, want %q", name, got[name], value)
		}
	}
}

func TestWriteStaysInItsNamespace(t *testing.T) {
	aName, a := openNS(t)
	bName, b := openNS(t)
	self := netns.Current()

	selfBefore, err := Read(self, "add_addr_timeout")
	if err != nil {
		t.Fatal(err)
	}
	// A value that differs from both the default and the host's.
	value := "77"
	if selfBefore == value {
		value = "78"
	}

	if err := Write(a, "add_addr_timeout", value); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name   string
		ns     netns.NS
		nsName string
		want   string
	}{
		{name: "written namespace", ns: a, nsName: aName, want: value},
		{name: "other fresh namespace", ns: b, nsName: bName, want: "120"},
		{name: "test's own namespace", ns: self, want: selfBefore},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(tt.ns, "add_addr_timeout")
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Read = %q, want %q", got, tt.want)
			}
			if tt.nsName != "" {
				if ref := reference(t, tt.nsName, "add_addr_timeout"); ref != tt.want {
					t.Errorf("sysctl(8) says %q, want %q", ref, tt.want)
				}
			}
		})
	}
}

func TestWriteStringValue(t *testing.T) {
	nsName, ns := openNS(t)
	if err := Write(ns, "path_manager", "userspace"); err != nil {
		t.Fatal(err)
	}
	if got := reference(t, nsName, "path_manager"); got != "userspace" {
		t.Errorf("sysctl -n path_manager = %q, want userspace", got)
	}
	got, err := Read(ns, "path_manager")
	if err != nil {
		t.Fatal(err)
	}
	if got != "userspace" {
		t.Errorf("Read(path_manager) = %q, want userspace", got)
	}
}

func TestErrors(t *testing.T) {
	_, ns := openNS(t)

	tests := []struct {
		name     string
		op       func() error
		is       error    // errors.Is target
		contains []string // substrings of the message
	}{
		{
			name:     "unknown name lists the known ones",
			op:       func() error { _, err := Read(ns, "no_such_knob"); return err },
			is:       unix.ENOENT,
			contains: []string{"net.mptcp.no_such_knob", "no such sysctl", "enabled", "path_manager"},
		},
		{
			name:     "unknown name on write",
			op:       func() error { return Write(ns, "no_such_knob", "1") },
			is:       unix.ENOENT,
			contains: []string{"no such sysctl", "add_addr_timeout"},
		},
		{
			name:     "out of range integer",
			op:       func() error { return Write(ns, "enabled", "5") },
			is:       unix.EINVAL,
			contains: []string{`net.mptcp.enabled="5"`, "refused the value"},
		},
		{
			name:     "not a number",
			op:       func() error { return Write(ns, "add_addr_timeout", "soon") },
			is:       unix.EINVAL,
			contains: []string{"refused the value"},
		},
		{
			name:     "unknown path manager lists the available ones",
			op:       func() error { return Write(ns, "path_manager", "bogus") },
			is:       unix.ENOENT,
			contains: []string{"refused the value", "available: kernel", "userspace"},
		},
		{
			name:     "read-only sysctl",
			op:       func() error { return Write(ns, "available_schedulers", "x") },
			is:       unix.EACCES,
			contains: []string{"read-only"},
		},
		{
			name:     "prefixed name",
			op:       func() error { _, err := Read(ns, "net.mptcp.enabled"); return err },
			contains: []string{"prefix"},
		},
		{
			name:     "path escape",
			op:       func() error { _, err := Read(ns, "../ipv4/ip_forward"); return err },
			contains: []string{"invalid sysctl name"},
		},
		{
			name:     "empty value",
			op:       func() error { return Write(ns, "enabled", "") },
			contains: []string{`net.mptcp.enabled=""`, "empty value"},
		},
		{
			name:     "empty name",
			op:       func() error { return Write(ns, "", "1") },
			contains: []string{"empty sysctl name"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

// TestErrorMessages covers the texts that need conditions a root test
// cannot cheaply create (no privilege, no MPTCP in the kernel).
func TestErrorMessages(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{
			name: "permission",
			err:  &Error{Op: "write", Name: "enabled", Value: "0", Err: unix.EPERM},
			want: `write net.mptcp.enabled="0": operation not permitted: needs CAP_NET_ADMIN over the network namespace (run as root)`,
		},
		{
			name: "access",
			err:  &Error{Op: "write", Name: "enabled", Value: "0", Err: unix.EACCES},
			want: `write net.mptcp.enabled="0": permission denied: needs CAP_NET_ADMIN over the network namespace (run as root)`,
		},
		{
			name: "no MPTCP",
			err:  &Error{Op: "read", Name: "enabled", Err: missingMPTCP(unix.ENOENT)},
			want: "read net.mptcp.enabled: this kernel has no MPTCP support (no /proc/sys/net/mptcp)",
		},
		{
			name: "refused without choices",
			err:  &Error{Op: "write", Name: "enabled", Value: "9", Refused: true, Err: unix.EINVAL},
			want: `write net.mptcp.enabled="9": the kernel refused the value (invalid argument)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.err.Error()); diff != "" {
				t.Errorf("Error() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadNamesMatchesRead(t *testing.T) {
	ns := nstest.Open(t, nstest.NewNS(t))
	if err := Write(ns, "add_addr_timeout", "77"); err != nil {
		t.Fatal(err)
	}
	names := []string{"enabled", "add_addr_timeout", "path_manager"}
	got, err := ReadNames(ns, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		want, err := Read(ns, name)
		if err != nil {
			t.Fatal(err)
		}
		if got[name] != want {
			t.Errorf("ReadNames[%s] = %q, Read = %q", name, got[name], want)
		}
	}
	if got["add_addr_timeout"] != "77" {
		t.Errorf("add_addr_timeout = %q, want the 77 written in this namespace", got["add_addr_timeout"])
	}
	// An unknown name fails alone: the others are still read.
	partial, err := ReadNames(ns, []string{"enabled", "no_such_sysctl"})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadNames with an unknown name = %v, want ErrNotExist", err)
	}
	if _, ok := partial["no_such_sysctl"]; ok || partial["enabled"] != "1" {
		t.Errorf("ReadNames with an unknown name read %v, want only enabled=1", partial)
	}
}

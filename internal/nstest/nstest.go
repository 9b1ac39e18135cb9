// Package nstest makes throwaway network namespaces and veth pairs for
// integration tests. It uses iproute2 to build the test network, which the
// product itself never does. Tests that need it fail (never skip) when they
// cannot run as root, so CI cannot pass without running them.
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RequireRoot fails the test unless it can create network namespaces. Set
// MPTCPD_SKIP_PRIVILEGED=1 to skip instead when developing without root;
// CI never sets it.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("MPTCPD_SKIP_PRIVILEGED") == "1" {
		t.Skip("needs root to create network namespaces (MPTCPD_SKIP_PRIVILEGED=1)")
	}
	t.Fatal("integration test needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create network namespaces; run as root, or set MPTCPD_SKIP_PRIVILEGED=1 to skip")
}

// NewNS creates a network namespace with a unique name, brings its loopback
// up, and deletes it when the test ends. It returns the name.
func NewNS(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "mptcpdtest-" + hex.EncodeToString(b[:])
	IP(t, "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	IP(t, "-n", name, "link", "set", "lo", "up")
	return name
}

// Veth creates a veth pair with one end in each namespace (both up) and
// returns nothing: the ends are named as given. Deleting a namespace
// deletes its end, and so the pair.
func Veth(t testing.TB, ns1, if1, ns2, if2 string) {
	t.Helper()
	IP(t, "-n", ns1, "link", "add", if1, "type", "veth", "peer", "name", if2, "netns", ns2)
	IP(t, "-n", ns1, "link", "set", if1, "up")
	IP(t, "-n", ns2, "link", "set", if2, "up")
}

// IP runs `ip ARGS...` and fails the test if it fails. It returns stdout.
func IP(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

// Exec runs a command inside the namespace (`ip netns exec`) and returns its
// combined output and error without failing the test.
func Exec(ns string, name string, args ...string) (string, error) {
	full := append([]string{"netns", "exec", ns, name}, args...)
	out, err := exec.Command("ip", full...).CombinedOutput()
	return string(out), err
}

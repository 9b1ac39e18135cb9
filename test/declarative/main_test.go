package declarative

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/internal/testbin"
)

// mptcpdBin is the binary under test, built once by TestMain and only read
// afterwards.
var mptcpdBin string

// moduleRoot is the directory of go.mod, set by TestMain.
var moduleRoot string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	// World-readable, so that the unprivileged check can run the binary.
	dir, err := os.MkdirTemp("", "declarative-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	root, err := testbin.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	moduleRoot = root
	bin, err := testbin.BuildMptcpd(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mptcpdBin = bin
	return m.Run()
}

// result is how one mptcpd process ended.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// invocation is one run of the binary: its arguments, and optionally the
// working directory and a command that wraps it (setpriv).
type invocation struct {
	dir     string
	wrapper []string
	args    []string
}

// mptcpd runs the binary with args and returns how it ended; it fails the
// test only when the process cannot be run at all.
func mptcpd(t *testing.T, args ...string) result {
	t.Helper()
	return runMptcpd(t, invocation{args: args})
}

func runMptcpd(t *testing.T, inv invocation) result {
	t.Helper()
	argv := append(append(append([]string{}, inv.wrapper...), mptcpdBin), inv.args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = inv.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", strings.Join(argv, " "), err)
	}
	return r
}

// wantCode fails the test unless r ended with code.
func wantCode(t *testing.T, r result, code int, what string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: want exit %d, got %s", what, code, r)
	}
}

// kernelState is everything mptcpd could change in a namespace, as ip and
// the sysctl files print it: comparing two readings shows any write.
func kernelState(t *testing.T, ns string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("endpoints:\n" + nstest.IP(t, "-n", ns, "mptcp", "endpoint", "show"))
	b.WriteString("limits:\n" + nstest.IP(t, "-n", ns, "mptcp", "limits", "show") + "\n")
	out, err := nstest.Exec(ns, "sysctl", "net.mptcp")
	if err != nil {
		t.Fatalf("sysctl net.mptcp in %s: %v: %s", ns, err, out)
	}
	b.WriteString("sysctl:\n" + out)
	return b.String()
}

// writeConfig writes a root-owned 0644 config file (the only kind apply
// accepts) named name in a fresh directory, and returns its path.
func writeConfig(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(publicDir(t), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode passes through the umask; set it exactly.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// publicDir makes a directory that every user can read (t.TempDir's
// parent is not), removed by t.Cleanup.
func publicDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "declarative")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// lines splits output into lines without the final newline's empty one.
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// hostNS makes a namespace with one link, v1 (a veth whose peer is up as
// well, since dummy links do not exist in this kernel), that carries the
// given IPv4 addresses (/24 each).
func hostNS(t *testing.T, addrs ...string) string {
	t.Helper()
	ns := nstest.NewNS(t)
	nstest.Veth(t, ns, "v1", ns, "v1peer")
	for _, a := range addrs {
		nstest.IP(t, "-n", ns, "addr", "add", a+"/24", "dev", "v1")
	}
	return ns
}

// sysctlSet sets net.mptcp.NAME in ns.
func sysctlSet(t *testing.T, ns, name, value string) {
	t.Helper()
	if out, err := nstest.Exec(ns, "sysctl", "-w", "net.mptcp."+name+"="+value); err != nil {
		t.Fatalf("sysctl -w net.mptcp.%s=%s in %s: %v: %s", name, value, ns, err, out)
	}
}

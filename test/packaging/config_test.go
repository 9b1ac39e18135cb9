package packaging

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/internal/control"
	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/internal/testbin"
)

// kernelState is what a file could change in a namespace, as ip and procfs
// print it.
type kernelState struct {
	Endpoints string
	Limits    string
	Sysctls   string
}

func readKernel(t *testing.T, ns string) kernelState {
	t.Helper()
	sysctls, err := nstest.Exec(ns, "sh", "-c", "grep -r . /proc/sys/net/mptcp | sort")
	if err != nil {
		t.Fatalf("read net.mptcp sysctls: %v: %s", err, sysctls)
	}
	return kernelState{
		Endpoints: nstest.IP(t, "-n", ns, "mptcp", "endpoint", "show"),
		Limits:    nstest.IP(t, "-n", ns, "mptcp", "limits", "show"),
		Sysctls:   sysctls,
	}
}

// buildMptcpd builds cmd/mptcpd into a temporary directory.
func buildMptcpd(t *testing.T) string {
	t.Helper()
	bin, err := testbin.BuildMptcpd(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// writeConfig writes a config file as root owns /etc/mptcpd.yaml (0644), so
// that apply and run take it.
func writeConfig(t *testing.T, body []byte) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "mptcpd.yaml")
	if err := os.WriteFile(file, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return file
}

// TestShippedConfigChangesNothing runs the shipped /etc/mptcpd.yaml against a
// namespace that has endpoints, non-default limits and a changed sysctl:
// check accepts it, plan finds nothing to do, and neither apply nor the
// daemon change anything. Installing the package must not touch a host's
// MPTCP configuration until someone edits the file.
func TestShippedConfigChangesNothing(t *testing.T) {
	ns := nstest.NewNS(t)
	nstest.IP(t, "-n", ns, "mptcp", "endpoint", "add", "192.0.2.1", "id", "5", "subflow")
	nstest.IP(t, "-n", ns, "mptcp", "endpoint", "add", "192.0.2.2", "signal", "backup")
	nstest.IP(t, "-n", ns, "mptcp", "endpoint", "add", "2001:db8::3", "id", "9", "subflow", "fullmesh")
	nstest.IP(t, "-n", ns, "mptcp", "limits", "set", "subflows", "3", "add_addr_accepted", "4")
	if out, err := nstest.Exec(ns, "sh", "-c", "echo 77 > /proc/sys/net/mptcp/add_addr_timeout"); err != nil {
		t.Fatalf("set add_addr_timeout: %v: %s", err, out)
	}
	before := readKernel(t, ns)

	bin := buildMptcpd(t)
	shipped, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging/etc/mptcpd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	file := writeConfig(t, shipped)

	mustRun(t, "", nil, bin, "check", "-c", file)
	if r := run(t, "", nil, bin, "-n", ns, "plan", "-c", file, "--detailed-exitcode"); r.code != 0 {
		t.Errorf("plan of the shipped file: exit %d, want 0 (nothing to do)\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustRun(t, "", nil, bin, "-n", ns, "apply", "-c", file)
	if diff := cmp.Diff(before, readKernel(t, ns)); diff != "" {
		t.Errorf("apply of the shipped file changed the kernel (-before +after):\n%s", diff)
	}

	// The daemon, as the service runs it, after its first reconcile.
	stateDir := t.TempDir()
	daemon := exec.Command(bin, "-n", ns, "run", "-c", file, "--state-dir", stateDir, "--log-format", "console")
	var logs strings.Builder
	daemon.Stdout, daemon.Stderr = &logs, &logs
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		daemon.Process.Signal(syscall.SIGTERM)
		daemon.Wait()
	})
	// Two finished runs: the first reconcile and a drift check after it.
	var status control.Status
	nstest.Eventually(t, 10*time.Second, func() bool {
		r := run(t, "", nil, bin, "status", "-o", "json", "--state-dir", stateDir)
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &status) == nil &&
			status.LastRun != nil && status.Daemon.Runs >= 2
	}, "the daemon to finish two runs")
	if status.LastRun.Result != control.RunOK || status.LastRun.Changes != 0 {
		t.Errorf("the daemon's last run: %+v, want ok with no changes", *status.LastRun)
	}
	if diff := cmp.Diff(before, readKernel(t, ns)); diff != "" {
		t.Errorf("the daemon with the shipped file changed the kernel (-before +after):\n%s\nlogs:\n%s", diff, logs.String())
	}

	// The file the comments warn about does change the kernel: the
	// comparison above can tell.
	removeAll := writeConfig(t, append(shipped, []byte("endpoints: []\n")...))
	if r := run(t, "", nil, bin, "-n", ns, "plan", "-c", removeAll, "--detailed-exitcode"); r.code != 2 {
		t.Errorf("plan of the shipped file plus endpoints: []: exit %d, want 2 (changes pending)\n%s%s", r.code, r.stdout, r.stderr)
	}
}

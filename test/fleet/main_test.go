package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/internal/testbin"
)

// The binary under test and the source tree, set once by TestMain.
var (
	mptcpdBin string
	repoRoot  string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := testbin.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "fleettest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	bin, err := testbin.BuildMptcpd(tmp)
	if err != nil {
		fmt.Fprintf(os.Stderr, "build mptcpd: %v\n", err)
		return 1
	}
	repoRoot, mptcpdBin = root, bin
	return m.Run()
}

// requireTool fails the test when a program the test drives is missing,
// naming the Debian package that provides it: CI installs it, so its
// absence is a broken setup, not a reason to skip.
func requireTool(t *testing.T, program, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %q (apt-get install %s)", program, debianPackage, debianPackage)
	}
	return path
}

// daemon is an `mptcpd run` process started by a test.
type daemon struct {
	ns       string
	stateDir string
}

// startDaemon runs the daemon on namespace ns with the config at path (and
// any further options of run) and returns once it answers `mptcpd status`.
// It is stopped (by its PID) when the test ends, and its log is shown if
// the test failed.
func startDaemon(t *testing.T, ns, path string, options ...string) daemon {
	t.Helper()
	dir := t.TempDir()
	d := daemon{ns: ns, stateDir: filepath.Join(dir, "state")}
	logPath := filepath.Join(dir, "mptcpd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()

	args := append([]string{"-n", ns, "run", "-c", path,
		"--state-dir", d.stateDir, "--log-format", "json"}, options...)
	cmd := exec.Command(mptcpdBin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mptcpd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("mptcpd (pid %d) did not stop on SIGTERM", cmd.Process.Pid)
		}
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			t.Logf("mptcpd log:\n%s", log)
		}
	})

	nstest.Eventually(t, 10*time.Second, func() bool {
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			t.Fatalf("mptcpd exited before it was ready: %v\n%s", cmd.ProcessState, log)
		default:
		}
		return exec.Command(mptcpdBin, d.statusArgs()...).Run() == nil
	}, "mptcpd answers status")
	return d
}

// statusArgs is the command line (without the program) that asks the
// daemon for its status.
func (d daemon) statusArgs() []string {
	return []string{"-n", d.ns, "status", "--state-dir", d.stateDir}
}

// reloadArgs is the command line (without the program) that makes the
// daemon apply its file and waits for the answer.
func (d daemon) reloadArgs() []string {
	return []string{"-n", d.ns, "reload", "--state-dir", d.stateDir}
}

// kernelState is what `ip mptcp` shows of a namespace: the endpoint lines
// (sorted, spaces normalised) and the limits line.
type kernelState struct {
	Endpoints []string
	Limits    string
}

func readKernel(t *testing.T, ns string) kernelState {
	t.Helper()
	return kernelState{
		Endpoints: lines(nstest.IP(t, "-n", ns, "mptcp", "endpoint", "show")),
		Limits:    strings.Join(strings.Fields(nstest.IP(t, "-n", ns, "mptcp", "limits", "show")), " "),
	}
}

// lines splits out into its non-empty lines, each with its fields joined by
// one space, sorted.
func lines(out string) []string {
	var ls []string
	for l := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			ls = append(ls, strings.Join(f, " "))
		}
	}
	slices.Sort(ls)
	return ls
}

// commandResult is how a tool the test ran ended.
type commandResult struct {
	Output   string // stdout and stderr, interleaved
	ExitCode int
}

// runTool runs a command with the given environment added and a deadline,
// and returns its output and exit code. It fails the test only when the
// command could not be run at all.
func runTool(t *testing.T, dir string, env []string, name string, args ...string) commandResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return commandResult{Output: out.String()}
	case errors.As(err, &exitErr) && ctx.Err() == nil:
		return commandResult{Output: out.String(), ExitCode: exitErr.ExitCode()}
	default:
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
		return commandResult{}
	}
}

// writeFile writes data to path with mode 0644, failing the test on error.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readFile reads path, failing the test on error.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// checkConfig runs `mptcpd check -c path` and returns its result.
func checkConfig(t *testing.T, path string) commandResult {
	t.Helper()
	return runTool(t, "", nil, mptcpdBin, "check", "-c", path)
}

// waitKernel waits, within a bound, for the namespace's MPTCP state to be
// want (the daemon applies a changed file on its own).
func waitKernel(t *testing.T, ns string, want kernelState, what string) {
	t.Helper()
	var got kernelState
	// Eventually fails the test by t.Fatalf, which runs this first.
	defer func() {
		if t.Failed() {
			t.Logf("kernel state last seen (-want +got):\n%s", cmp.Diff(want, got))
		}
	}()
	nstest.Eventually(t, 10*time.Second, func() bool {
		got = readKernel(t, ns)
		return cmp.Equal(want, got)
	}, what)
}

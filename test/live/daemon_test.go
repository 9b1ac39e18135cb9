package live

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mptcpd/mptcpd/internal/testbin"
)

// buildMptcpd builds the daemon as the Makefile does, into a directory
// removed when the test ends.
func buildMptcpd(t *testing.T) string {
	t.Helper()
	bin, err := testbin.BuildMptcpd(t.TempDir(), "-trimpath")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// configFile is the daemon's config file. Every write replaces it the way
// editors and Ansible do: a new file renamed over the old one.
type configFile struct {
	path string
}

func (c configFile) write(t *testing.T, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(c.path), "."+filepath.Base(c.path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	// The daemon refuses files others can write; do not depend on umask.
	if err := os.Chmod(tmp, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, c.path); err != nil {
		t.Fatal(err)
	}
}

// daemon is one `mptcpd run` process.
type daemon struct {
	bin, ns, stateDir string
	cmd               *exec.Cmd
	log               *testbin.Buffer
	child             *testbin.Child
}

// startDaemon starts `mptcpd -n NS run` on the config file and stops it
// (SIGTERM, then SIGKILL) when the test ends if it is still running.
func startDaemon(t *testing.T, bin, ns, config, stateDir string) *daemon {
	t.Helper()
	d := &daemon{bin: bin, ns: ns, stateDir: stateDir, log: &testbin.Buffer{}}
	d.cmd = exec.Command(bin, "-n", ns, "run", "-c", config, "--state-dir", stateDir,
		"--resync-interval", "200ms", "--log-format", "json")
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	child, err := testbin.Start(d.cmd)
	if err != nil {
		t.Fatalf("start mptcpd: %v", err)
	}
	d.child = child
	t.Cleanup(func() {
		if err := d.stop(5 * time.Second); err != nil {
			t.Errorf("stop mptcpd (pid %d): %v\nlog:\n%s", d.cmd.Process.Pid, err, d.log)
		}
	})
	return d
}

// stop sends SIGTERM and waits for the exit; after `within` it kills the
// process and reports that it had to. A daemon that has already exited is
// not signalled again; its exit status is returned.
func (d *daemon) stop(within time.Duration) error {
	return d.child.Stop(within)
}

func (d *daemon) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal mptcpd: %v", err)
	}
}

// cli runs `mptcpd -n NS COMMAND --state-dir DIR ARGS...` against this
// daemon's control socket.
func (d *daemon) cli(ctx context.Context, command string, args ...string) (string, error) {
	argv := append([]string{"-n", d.ns, command, "--state-dir", d.stateDir}, args...)
	out, err := exec.CommandContext(ctx, d.bin, argv...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("mptcpd %s: %w: %s", strings.Join(argv, " "), err, out)
	}
	return string(out), nil
}

// status is the part of `mptcpd status -o json` this test reads.
type status struct {
	Daemon struct {
		PID  int   `json:"pid"`
		Runs int64 `json:"runs"`
	} `json:"daemon"`
	LastRun *struct {
		Result  string `json:"result"`
		Changes int    `json:"changes"`
	} `json:"last_run"`
	Config *struct {
		SHA256   string    `json:"sha256"`
		LoadedAt time.Time `json:"loaded_at"`
	} `json:"config"`
}

func (d *daemon) status(ctx context.Context) (status, error) {
	var st status
	out, err := d.cli(ctx, "status", "-o", "json")
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return st, fmt.Errorf("decode status: %w: %s", err, out)
	}
	return st, nil
}

// waitReady waits until the control socket answers and the first run is
// done, and returns that status.
func (d *daemon) waitReady(t *testing.T, within time.Duration) status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		select {
		case <-d.child.Exited():
			t.Fatalf("mptcpd exited before it was ready: %v\nlog:\n%s", d.child.Err(), d.log)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := d.status(ctx)
		cancel()
		if err == nil && st.LastRun != nil && st.Config != nil {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("mptcpd not ready after %v: %v\nlog:\n%s", within, err, d.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLoadedAfter waits until the daemon has loaded its file again after
// `since` (the reload was taken, whatever triggered it).
func (d *daemon) waitLoadedAfter(t *testing.T, since time.Time, within time.Duration) status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := d.status(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if st.Config != nil && st.Config.LoadedAt.After(since) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not load its file again within %v (loaded at %v, want after %v)", within, st.Config.LoadedAt, since)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logLine is one line of the daemon's JSON log.
type logLine struct {
	Level  string `json:"level"`
	Msg    string `json:"msg"`
	Action string `json:"action"`
	Step   string `json:"step"`
}

// logLines parses the daemon's log so far; a line that is not JSON fails
// the test (--log-format json promises JSON).
func (d *daemon) logLines(t *testing.T) []logLine {
	t.Helper()
	var lines []logLine
	sc := bufio.NewScanner(strings.NewReader(d.log.String()))
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("daemon log line is not JSON: %v: %s", err, sc.Text())
		}
		lines = append(lines, l)
	}
	return lines
}

// changes returns the daemon's "changed" log lines (one per kernel write).
func (d *daemon) changes(t *testing.T) []logLine {
	t.Helper()
	var out []logLine
	for _, l := range d.logLines(t) {
		if l.Msg == "changed" {
			out = append(out, l)
		}
	}
	return out
}

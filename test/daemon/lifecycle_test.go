package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/internal/notify/notifytest"
)

// basicConfig has limits, a fixed endpoint with an id on eth1 and an
// interface entry for eth2.
const basicConfig = `limits:
  subflows: 4
  add_addr_accepted: 2
endpoints:
  - address: 10.1.0.1
    dev: eth1
    id: 11
    flags: [subflow]
  - interface: eth2
    family: ipv4
    flags: [signal]
`

// basicEndpoints is what basicConfig installs on a host made by
// newBasicHost.
var basicEndpoints = []string{
	"10.1.0.1 subflow dev eth1",
	"10.2.0.1 signal dev eth2",
	"10.2.0.2 signal dev eth2",
}

// newBasicHost is a host with the links and addresses basicConfig names,
// and basicConfig in its config file.
func newBasicHost(t *testing.T) *host {
	t.Helper()
	h := newHost(t)
	h.link("eth1", "10.1.0.1/24")
	h.link("eth2", "10.2.0.1/24", "10.2.0.2/24")
	h.writeConfig(basicConfig)
	return h
}

// fileLineCol matches the FILE:LINE:COL: prefix of a config error about
// the file.
func fileLineCol(path string) *regexp.Regexp {
	return regexp.MustCompile(regexp.QuoteMeta(path) + `:[0-9]+:[0-9]+: `)
}

// badConfig has an unknown key on line 5, column 5.
const badConfig = `limits:
  subflows: 1
endpoints:
  - address: 10.1.0.1
    flagz: [subflow]
`

func TestStartAppliesFile(t *testing.T) {
	t.Parallel()
	h := newBasicHost(t)
	p := h.spawn()
	ready := p.waitReady()

	// READY=1 comes after the first reconcile: the kernel holds the file's
	// state at once, without waiting.
	if diff := cmp.Diff(basicEndpoints, h.described()); diff != "" {
		t.Errorf("endpoints when READY=1 arrived (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"subflows": 4, "add_addr_accepted": 2}, h.limits()); diff != "" {
		t.Errorf("limits when READY=1 arrived (-want +got):\n%s", diff)
	}
	if got := h.idOf("10.1.0.1"); got != 11 {
		t.Errorf("10.1.0.1 has id %d, want 11 as the file says", got)
	}
	if !strings.Contains(ready, "\nSTATUS=applied "+h.config) {
		t.Errorf("READY datagram %q does not say the file was applied", ready)
	}

	st := h.status()
	if st.Config == nil || st.Config.SHA256 != digest(basicConfig) || st.Config.Path != h.config {
		t.Errorf("status config = %+v, want %s with sha256 %s", st.Config, h.config, digest(basicConfig))
	}
	if st.LastRun == nil || st.LastRun.Result != "ok" {
		t.Errorf("status last run = %+v, want ok", st.LastRun)
	}
	var installed []string
	for _, e := range st.Endpoints {
		installed = append(installed, fmt.Sprintf("%s %s %s", e.Address, e.Dev, e.State))
	}
	slices.Sort(installed)
	want := []string{"10.1.0.1 eth1 installed", "10.2.0.1 eth2 installed", "10.2.0.2 eth2 installed"}
	if diff := cmp.Diff(want, installed); diff != "" {
		t.Errorf("status endpoints (-want +got):\n%s", diff)
	}
	text := h.mptcpd("status", "--state-dir", h.stateDir)
	if text.code != 0 || !strings.Contains(text.stdout, h.config) {
		t.Errorf("mptcpd status: exit %d, want the config %s named in:\n%s%s", text.code, h.config, text.stdout, text.stderr)
	}
	// One log line per change: three adds and the limits.
	p.waitActions("start", func(e []logEntry) []logEntry { return e }, "add", "add", "add", "set_limits")
}

func TestRejectedFileKeepsKernel(t *testing.T) {
	t.Parallel()
	h := newBasicHost(t)
	p := h.start()
	h.waitEndpoints(basicEndpoints...)
	before := h.kernelText()

	h.writeConfig(badConfig)
	waitFor(t, "status to show the rejected file", func() string {
		st := h.status()
		if st.Rejected == nil || st.Rejected.SHA256 != digest(badConfig) {
			return fmt.Sprintf("rejected_config = %+v", st.Rejected)
		}
		return ""
	})
	// A run after the rejection has read the kernel again: it must still be
	// exactly what the good file made it.
	h.waitRuns(2)
	if diff := cmp.Diff(before, h.kernelText()); diff != "" {
		t.Errorf("kernel changed after a rejected file (-before +after):\n%s", diff)
	}
	if p.hasExited() {
		t.Fatalf("mptcpd exited after a rejected file:\n%s", p.out)
	}

	res := h.reload()
	if res.code != 1 {
		t.Errorf("mptcpd reload of a bad file: exit %d, want 1\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	if !fileLineCol(h.config).MatchString(res.stderr) {
		t.Errorf("mptcpd reload stderr does not name FILE:LINE:COL of %s:\n%s", h.config, res.stderr)
	}
	if !strings.Contains(res.stderr, h.config+":5:5: ") {
		t.Errorf("mptcpd reload stderr does not point at line 5, column 5:\n%s", res.stderr)
	}

	st := h.status()
	if st.Config == nil || st.Config.SHA256 != digest(basicConfig) {
		t.Errorf("config in force = %+v, want the good file (sha256 %s)", st.Config, digest(basicConfig))
	}
	if st.Rejected == nil || len(st.Rejected.Errors) == 0 || !fileLineCol(h.config).MatchString(st.Rejected.Errors[0]) {
		t.Errorf("status rejected_config = %+v, want the bad file with FILE:LINE:COL errors", st.Rejected)
	}
	if diff := cmp.Diff(before, h.kernelText()); diff != "" {
		t.Errorf("kernel changed after mptcpd reload of a rejected file (-before +after):\n%s", diff)
	}

	// The next good file is applied, and clears the rejection.
	next := strings.Replace(basicConfig, "subflows: 4", "subflows: 5", 1)
	h.writeConfig(next)
	h.waitLimits(5, 2)
	h.waitEndpoints(basicEndpoints...)
	res = h.reload()
	if res.code != 0 {
		t.Errorf("mptcpd reload of a good file: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	st = h.status()
	if st.Rejected != nil {
		t.Errorf("status still shows a rejected file after a good one: %+v", st.Rejected)
	}
	if st.Config == nil || st.Config.SHA256 != digest(next) {
		t.Errorf("config in force = %+v, want sha256 %s", st.Config, digest(next))
	}
}

func TestStopLeavesEndpoints(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			h := newBasicHost(t)
			p := h.start()
			h.waitEndpoints(basicEndpoints...)
			before := h.kernelText()

			p.signal(sig)
			if code := p.wait(); code != 0 {
				t.Errorf("mptcpd exited %d on %v, want 0", code, sig)
			}
			if diff := cmp.Diff(before, h.kernelText()); diff != "" {
				t.Errorf("kernel changed by stopping (-before +after):\n%s", diff)
			}
			if !slices.ContainsFunc(p.out.logEntries(), func(e logEntry) bool { return strings.HasPrefix(e.Msg, "stopped") }) {
				t.Errorf("no \"stopped\" log line:\n%s", p.out)
			}
			if got := p.notify.Received(); len(got) == 0 || got[len(got)-1] != "STOPPING=1" {
				t.Errorf("notifications %q, want STOPPING=1 last", got)
			}
			// Nobody answers a reload any more, and the client says so.
			if res := h.reload(); res.code == 0 || !strings.Contains(res.stderr, "not running") {
				t.Errorf("mptcpd reload after stop: exit %d, stderr %q; want a failure saying mptcpd is not running", res.code, res.stderr)
			}
		})
	}
}

func TestRestartMakesNoChange(t *testing.T) {
	t.Parallel()
	h := newBasicHost(t)
	first := h.start()
	h.waitEndpoints(basicEndpoints...)
	before := h.endpoints()
	beforeText := h.kernelText()
	first.stop()

	second := h.start()
	// Let it look at the kernel a few more times, then check it changed
	// nothing at all.
	h.waitRuns(3)
	if got := second.out.changes(); len(got) != 0 {
		t.Errorf("a restart on a converged kernel made changes: %+v", got)
	}
	if diff := cmp.Diff(before, h.endpoints()); diff != "" {
		t.Errorf("endpoints changed across the restart (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(beforeText, h.kernelText()); diff != "" {
		t.Errorf("kernel changed across the restart (-before +after):\n%s", diff)
	}
	st := h.status()
	if st.Daemon.PID != second.cmd.Process.Pid {
		t.Errorf("status from pid %d, want the restarted daemon %d", st.Daemon.PID, second.cmd.Process.Pid)
	}
	if st.LastRun == nil || st.LastRun.Changes != 0 || st.LastRun.Result != "ok" {
		t.Errorf("last run = %+v, want ok with 0 changes", st.LastRun)
	}
}

func TestStartWithBadFileExits(t *testing.T) {
	t.Parallel()
	h := newBasicHost(t)
	// Something for the daemon to wrongly remove or change.
	h.ip("mptcp", "endpoint", "add", "10.1.0.1", "dev", "eth1", "id", "3", "signal")
	h.ip("mptcp", "limits", "set", "subflows", "6")
	before := h.kernelText()
	h.writeConfig(badConfig)

	p := h.spawn()
	code := p.wait()
	if code == 0 {
		t.Errorf("mptcpd run with a bad file exited 0")
	}
	if !strings.Contains(p.out.String(), h.config+":5:5: ") {
		t.Errorf("mptcpd run output does not name %s:5:5:\n%s", h.config, p.out)
	}
	if diff := cmp.Diff(before, h.kernelText()); diff != "" {
		t.Errorf("kernel changed by a daemon that refused its file (-before +after):\n%s", diff)
	}
	if got := p.notify.Received(); slices.ContainsFunc(got, func(d string) bool { return strings.HasPrefix(d, "READY=1") }) {
		t.Errorf("a daemon that did not start sent READY=1: %q", got)
	}
}

func TestStartWithMissingFileExits(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	p := h.spawn()
	if code := p.wait(); code == 0 {
		t.Errorf("mptcpd run without its file exited 0")
	}
	if !strings.Contains(p.out.String(), h.config) {
		t.Errorf("mptcpd run output does not name the missing %s:\n%s", h.config, p.out)
	}
}

func TestSharedOwnership(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.link("eth1", "10.1.0.1/24", "10.1.0.2/24", "10.1.0.3/24")
	// Made by someone else before the daemon starts, and after.
	h.ip("mptcp", "endpoint", "add", "10.1.0.3", "id", "30", "signal")
	shared := `ownership: shared
endpoints:
  - address: 10.1.0.1
    id: 11
    flags: [subflow]
  - address: 10.1.0.2
    id: 12
    flags: [subflow]
`
	h.writeConfig(shared)
	first := h.start()
	h.ip("mptcp", "endpoint", "add", "10.9.9.9", "id", "99", "subflow")
	mine := []string{"10.1.0.1 subflow", "10.1.0.2 subflow"}
	others := []string{"10.1.0.3 signal", "10.9.9.9 subflow"}
	h.waitEndpoints(append(mine, others...)...)
	h.waitRuns(3)
	if diff := cmp.Diff(append(mine, others...), h.described()); diff != "" {
		t.Errorf("shared ownership touched endpoints it did not make (-want +got):\n%s", diff)
	}
	first.stop()

	if diff := cmp.Diff([]string{"10.1.0.1", "10.1.0.2"}, ownedAddresses(t, h)); diff != "" {
		t.Errorf("owned.json after stop (-want +got):\n%s", diff)
	}

	// The restarted daemon remembers 10.1.0.2 as its own: dropping it from
	// the file removes it, while the others' endpoints stay.
	h.writeConfig(strings.Replace(shared, "  - address: 10.1.0.2\n    id: 12\n    flags: [subflow]\n", "", 1))
	h.start()
	h.waitEndpoints(append([]string{"10.1.0.1 subflow"}, others...)...)
	h.waitRuns(3)
	if diff := cmp.Diff(append([]string{"10.1.0.1 subflow"}, others...), h.described()); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
}

// TestSIGHUP changes the file where the watcher cannot see it (through a
// hard link in another directory, which notifies only that directory), so
// that only the signal can make the daemon read it.
func TestSIGHUP(t *testing.T) {
	t.Parallel()
	h := newBasicHost(t)
	alias := filepath.Join(t.TempDir(), "alias.yaml")
	if err := os.Link(h.config, alias); err != nil {
		t.Fatal(err)
	}
	p := h.start()
	h.waitLimits(4, 2)

	edited := strings.Replace(basicConfig, "subflows: 4", "subflows: 6", 1)
	writeFile(t, alias, edited)
	h.waitRuns(3)
	if got := h.limits()["subflows"]; got != 4 {
		t.Fatalf("the daemon applied a change it could not have seen (subflows %d); the test's premise is wrong", got)
	}

	p.signal(syscall.SIGHUP)
	h.waitLimits(6, 2)
	h.waitEndpoints(basicEndpoints...)
	if p.hasExited() {
		t.Fatalf("mptcpd exited on SIGHUP:\n%s", p.out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	got, err := p.notify.NextN(ctx, 2)
	if err != nil {
		t.Fatalf("notifications after SIGHUP: %v (got %q)", err, got)
	}
	if got := notifytest.Scrub(got[0]); got != "RELOADING=1\nMONOTONIC_USEC=N" {
		t.Errorf("first notification after SIGHUP %q, want RELOADING=1 with MONOTONIC_USEC", got)
	}
	wantReady := fmt.Sprintf("READY=1\nSTATUS=applied %s (%s)", h.config, digest(edited)[:12])
	if !strings.HasPrefix(got[1], wantReady) {
		t.Errorf("second notification after SIGHUP %q, want %q...", got[1], wantReady)
	}
}

// ownedAddresses reads the daemon's memory of the endpoints it made.
func ownedAddresses(t *testing.T, h *host) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.stateDir, "owned.json"))
	if err != nil {
		t.Fatalf("the daemon kept no memory of the endpoints it made: %v", err)
	}
	var f struct {
		Endpoints []struct {
			Address string `json:"address"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("owned.json: %v\n%s", err, b)
	}
	var out []string
	for _, e := range f.Endpoints {
		out = append(out, e.Address)
	}
	slices.Sort(out)
	return out
}

// TestSIGHUPWhileStarting sends SIGHUP while the daemon is still waiting
// for its file at start (a missing file is read again for a while): the
// signal must not kill it, as it would a Go program that has not asked for
// SIGHUP yet.
func TestSIGHUPWhileStarting(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.link("eth1", "10.1.0.1/24")
	p := h.spawn()
	// The watch on the file's directory is set up before the file is read:
	// once the process holds an inotify descriptor, it is in the daemon's
	// start.
	waitFor(t, "the daemon to watch its file", func() string {
		if hasInotify(p.cmd.Process.Pid) {
			return ""
		}
		return "no inotify descriptor yet"
	})
	p.signal(syscall.SIGHUP)
	h.writeConfig("endpoints:\n  - address: 10.1.0.1\n    flags: [subflow]\n")
	p.waitReady()
	h.waitEndpoints("10.1.0.1 subflow")
	if p.hasExited() {
		t.Fatalf("mptcpd exited after SIGHUP at start: %v\n%s", p.cmd.ProcessState, p.out)
	}
}

// hasInotify reports whether the process holds an inotify descriptor.
func hasInotify(pid int) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && target == "anon_inode:inotify" {
			return true
		}
	}
	return false
}

// TestInsecureFileRejected makes the file writable by everyone: whoever
// can write it could reroute traffic, so the daemon rejects it like a bad
// file and keeps the last good one, until the mode is fixed.
func TestInsecureFileRejected(t *testing.T) {
	t.Parallel()
	h := newBasicHost(t)
	h.start()
	h.waitEndpoints(basicEndpoints...)
	before := h.kernelText()

	if err := os.Chmod(h.config, 0o666); err != nil {
		t.Fatal(err)
	}
	res := h.reload()
	if res.code != 1 || !strings.Contains(res.stderr, "writable by") {
		t.Errorf("mptcpd reload of a world-writable file: exit %d, stderr %q; want 1 and why", res.code, res.stderr)
	}
	if st := h.status(); st.Rejected == nil || st.Config == nil || st.Config.SHA256 != digest(basicConfig) {
		t.Errorf("status rejected_config = %+v, config = %+v; want the file rejected and the good one in force", st.Rejected, st.Config)
	}
	h.waitRuns(2)
	if diff := cmp.Diff(before, h.kernelText()); diff != "" {
		t.Errorf("kernel changed after a rejected file (-before +after):\n%s", diff)
	}

	// Fixing the mode is a change the watcher sees.
	if err := os.Chmod(h.config, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the file to be accepted again", func() string {
		if st := h.status(); st.Rejected != nil {
			return fmt.Sprintf("rejected_config = %+v", st.Rejected)
		}
		return ""
	})
}

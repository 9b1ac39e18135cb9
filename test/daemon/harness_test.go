package daemon

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/internal/control"
	"github.com/mptcpd/mptcpd/internal/notify/notifytest"
	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/internal/testbin"
	"github.com/mptcpd/mptcpd/pkg/pm"
)

// Bounds on waiting. They only keep a broken daemon from hanging the
// tests; nothing asserts how fast anything happens.
const (
	waitBound = 10 * time.Second
	stopBound = 5 * time.Second
	// resyncInterval is the daemon's --resync-interval in these tests.
	resyncInterval = 200 * time.Millisecond
)

// host is one test's namespace with its config file and state directory.
type host struct {
	t        *testing.T
	ns       string
	dir      string // the directory of the config file
	config   string // the path the daemon is given with -c
	stateDir string
}

// newHost makes a fresh namespace and an empty directory for the config
// file, which the daemon will find at dir/mptcpd.yaml.
func newHost(t *testing.T) *host {
	t.Helper()
	ns := nstest.NewNS(t)
	dir := t.TempDir()
	// The control socket's path must fit in sockaddr_un, which a temporary
	// directory named after a long subtest would outgrow.
	state, err := os.MkdirTemp("", "mptcpd-state")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	return &host{t: t, ns: ns, dir: dir, config: filepath.Join(dir, "mptcpd.yaml"), stateDir: state}
}

// ip runs `ip -n NS ARGS...` and fails the test if it fails.
func (h *host) ip(args ...string) string {
	h.t.Helper()
	return nstest.IP(h.t, append([]string{"-n", h.ns}, args...)...)
}

// link makes a veth pair NAME <-> NAMEp inside the host's namespace, both
// up, so that NAME has carrier, and gives NAME the addresses.
func (h *host) link(name string, addrs ...string) {
	h.t.Helper()
	nstest.Veth(h.t, h.ns, name, h.ns, name+"p")
	for _, a := range addrs {
		h.ip("addr", "add", a, "dev", name)
	}
}

// ifIndex is the interface index of the link.
func (h *host) ifIndex(name string) int32 {
	h.t.Helper()
	var links []struct {
		IfIndex int32 `json:"ifindex"`
	}
	out := h.ip("-j", "link", "show", "dev", name)
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		h.t.Fatalf("ip -j link show dev %s: %q: %v", name, out, err)
	}
	return links[0].IfIndex
}

// writeFile writes a config file in place (truncate, then write), root
// owned and mode 0644 as the daemon requires.
func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeConfig writes the host's config file in place.
func (h *host) writeConfig(text string) {
	h.t.Helper()
	writeFile(h.t, h.config, text)
}

// digest is the SHA-256 the daemon reports for a file's bytes.
func digest(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// endpoint is one line of `ip -j mptcp endpoint show`.
type endpoint struct {
	ID      uint8
	Address string
	Port    uint16
	Flags   []string
	Dev     string
}

// String is the endpoint without its id, the way tests compare endpoints
// whose id the kernel chose.
func (e endpoint) String() string {
	var b strings.Builder
	b.WriteString(e.Address)
	if e.Port != 0 {
		fmt.Fprintf(&b, " port %d", e.Port)
	}
	for _, f := range e.Flags {
		b.WriteString(" " + f)
	}
	if e.Dev != "" {
		b.WriteString(" dev " + e.Dev)
	}
	return b.String()
}

// endpointFlags are the flags `ip -j` reports as boolean keys, in the order
// ip prints them.
var endpointFlags = []string{"signal", "subflow", "backup", "fullmesh", "implicit", "laminar"}

// endpoints reads the kernel's endpoints with iproute2, the reference.
func (h *host) endpoints() []endpoint {
	h.t.Helper()
	out := h.ip("-j", "mptcp", "endpoint", "show")
	var raw []map[string]any
	if strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &raw); err != nil {
			h.t.Fatalf("ip -j mptcp endpoint show: %q: %v", out, err)
		}
	}
	eps := make([]endpoint, 0, len(raw))
	for _, r := range raw {
		var e endpoint
		e.Address, _ = r["address"].(string)
		if v, ok := r["id"].(float64); ok {
			e.ID = uint8(v)
		}
		if v, ok := r["port"].(float64); ok {
			e.Port = uint16(v)
		}
		e.Dev, _ = r["dev"].(string)
		for _, f := range endpointFlags {
			if r[f] == true {
				e.Flags = append(e.Flags, f)
			}
		}
		eps = append(eps, e)
	}
	return eps
}

// described lists the kernel's endpoints without ids, sorted.
func (h *host) described() []string {
	h.t.Helper()
	var out []string
	for _, e := range h.endpoints() {
		out = append(out, e.String())
	}
	slices.Sort(out)
	return out
}

// idOf is the kernel's id for the endpoint on addr, 0 when there is none.
func (h *host) idOf(addr string) uint8 {
	h.t.Helper()
	for _, e := range h.endpoints() {
		if e.Address == addr {
			return e.ID
		}
	}
	return 0
}

// limits reads the kernel's limits with iproute2, by name
// ("subflows", "add_addr_accepted").
func (h *host) limits() map[string]int {
	h.t.Helper()
	fields := strings.Fields(h.ip("mptcp", "limits", "show"))
	out := map[string]int{}
	for i := 0; i+1 < len(fields); i += 2 {
		n, err := strconv.Atoi(fields[i+1])
		if err != nil {
			h.t.Fatalf("ip mptcp limits show: %q: %v", fields, err)
		}
		out[fields[i]] = n
	}
	return out
}

// kernelText is the kernel's path manager state as iproute2 prints it,
// for byte-for-byte comparisons.
func (h *host) kernelText() string {
	h.t.Helper()
	return h.ip("mptcp", "endpoint", "show") + h.ip("mptcp", "limits", "show")
}

// pmEndpoints reads the kernel's endpoints with the path manager client,
// which reports the interface index that iproute2 shows only as a name.
func (h *host) pmEndpoints() map[string]int32 {
	h.t.Helper()
	c, err := pm.Dial(pm.WithNetNS(nstest.Open(h.t, h.ns)))
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	eps, err := c.Endpoints()
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]int32{}
	for _, e := range eps {
		out[e.Addr.String()] = e.IfIndex
	}
	return out
}

// waitFor polls check, which describes what is still wrong ("" when
// nothing is), until it passes or waitBound ends; on failure the last
// description is logged.
func waitFor(t *testing.T, what string, check func() string) {
	t.Helper()
	var last string
	defer func() {
		if t.Failed() && last != "" {
			t.Logf("last seen while waiting for %s:\n%s", what, last)
		}
	}()
	nstest.Eventually(t, waitBound, func() bool {
		last = check()
		return last == ""
	}, what)
}

// waitEndpoints waits until the kernel holds exactly want (see
// endpoint.String), in any order.
func (h *host) waitEndpoints(want ...string) {
	h.t.Helper()
	want = slices.Sorted(slices.Values(want))
	waitFor(h.t, fmt.Sprintf("endpoints %q", want), func() string {
		return cmp.Diff(want, h.described(), cmpEmpty)
	})
}

// waitLimits waits until the kernel's limits are want.
func (h *host) waitLimits(subflows, addAddrAccepted int) {
	h.t.Helper()
	want := map[string]int{"subflows": subflows, "add_addr_accepted": addAddrAccepted}
	waitFor(h.t, fmt.Sprintf("limits %v", want), func() string {
		return cmp.Diff(want, h.limits())
	})
}

// cmpEmpty treats nil and empty slices alike.
var cmpEmpty = cmp.Transformer("nonNil", func(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
})

// result is a finished command.
type result struct {
	code           int
	stdout, stderr string
}

// mptcpd runs the binary under test against the host's namespace and
// state directory (for the commands that take --state-dir).
func (h *host) mptcpd(args ...string) result {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, mptcpdBin, append([]string{"-n", h.ns}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		h.t.Fatalf("mptcpd %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		h.t.Fatalf("mptcpd %s: no answer within %v", strings.Join(args, " "), waitBound)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// status asks the running daemon for its state.
func (h *host) status() control.Status {
	h.t.Helper()
	res := h.mptcpd("status", "-o", "json", "--state-dir", h.stateDir)
	if res.code != 0 {
		h.t.Fatalf("mptcpd status: exit %d: %s", res.code, res.stderr)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		h.t.Fatalf("mptcpd status -o json: %v\n%s", err, res.stdout)
	}
	return st
}

// waitRuns waits until the daemon has finished n more runs than it had
// when called: enough to be sure a periodic resync has looked at the
// kernel since.
func (h *host) waitRuns(n int64) {
	h.t.Helper()
	target := h.status().Daemon.Runs + n
	waitFor(h.t, fmt.Sprintf("%d more runs", n), func() string {
		if got := h.status().Daemon.Runs; got < target {
			return fmt.Sprintf("runs %d, want %d", got, target)
		}
		return ""
	})
}

// reload runs `mptcpd reload`.
func (h *host) reload() result {
	h.t.Helper()
	return h.mptcpd("reload", "--state-dir", h.stateDir)
}

// output collects a child's stdout and stderr.
type output struct {
	testbin.Buffer
}

// logEntry is a line of the daemon's JSON log.
type logEntry struct {
	Level    string   `json:"level"`
	Msg      string   `json:"msg"`
	Action   string   `json:"action"`
	Endpoint string   `json:"endpoint"`
	Step     string   `json:"step"`
	Triggers []string `json:"triggers"`
	Errors   []string `json:"errors"`
}

// logEntries parses the JSON lines of the output; other lines (errors
// printed before logging started) are skipped.
func (o *output) logEntries() []logEntry {
	var out []logEntry
	sc := bufio.NewScanner(strings.NewReader(o.String()))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("{")) {
			continue
		}
		var e logEntry
		if json.Unmarshal(line, &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// changes are the daemon's "changed" log lines: one per change it made.
func (o *output) changes() []logEntry {
	var out []logEntry
	for _, e := range o.logEntries() {
		if e.Msg == "changed" {
			out = append(out, e)
		}
	}
	return out
}

// proc is a running `mptcpd run`.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *output
	notify *notifytest.Socket
	child  *testbin.Child
	exited <-chan struct{}
}

// spawn starts `mptcpd run` on the host's config with a fake
// NOTIFY_SOCKET and extra environment variables, and returns at once.
// t.Cleanup stops it (SIGTERM, then SIGKILL after stopBound) if it still
// runs, and shows its output when the test failed.
func (h *host) spawn(env ...string) *proc {
	h.t.Helper()
	p := &proc{t: h.t, out: &output{}, notify: notifytest.Listen(h.t)}
	p.cmd = exec.Command(mptcpdBin, "-n", h.ns, "run", "-c", h.config, "--state-dir", h.stateDir,
		"--log-format", "json", "--resync-interval", resyncInterval.String())
	p.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+p.notify.Path())
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	child, err := testbin.Start(p.cmd)
	if err != nil {
		h.t.Fatalf("start mptcpd run: %v", err)
	}
	p.child, p.exited = child, child.Exited()
	h.t.Cleanup(func() {
		_ = p.child.Stop(stopBound)
		if h.t.Failed() {
			h.t.Logf("mptcpd run (pid %d) output:\n%s", p.cmd.Process.Pid, p.out)
		}
	})
	return p
}

// start starts `mptcpd run` and waits for READY=1.
func (h *host) start(env ...string) *proc {
	h.t.Helper()
	p := h.spawn(env...)
	p.waitReady()
	return p
}

func (p *proc) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// waitReady waits for the READY=1 datagram of the start and returns it;
// it fails if the daemon exits or sends anything else first.
func (p *proc) waitReady() string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	go func() {
		// The daemon exiting ends the wait early.
		select {
		case <-p.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	d, err := p.notify.Next(ctx)
	if err != nil {
		if p.hasExited() {
			p.t.Fatalf("mptcpd exited (%v) before READY=1:\n%s", p.cmd.ProcessState, p.out)
		}
		p.t.Fatal(err)
	}
	if !strings.HasPrefix(d, "READY=1\n") {
		p.t.Fatalf("first notification %q, want READY=1", d)
	}
	return d
}

// signal sends sig to the daemon.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v to pid %d: %v", sig, p.cmd.Process.Pid, err)
	}
}

// wait waits for the daemon to exit and returns its exit code.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(stopBound):
		p.t.Fatalf("mptcpd (pid %d) still runs after %v", p.cmd.Process.Pid, stopBound)
	}
	return p.cmd.ProcessState.ExitCode()
}

// stop sends SIGTERM, waits for the exit and fails unless it was clean.
func (p *proc) stop() {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		p.t.Fatalf("mptcpd exited %d after SIGTERM, want 0:\n%s", code, p.out)
	}
}

// waitActions waits until the actions of the "changed" log lines that
// pick selects are want. The daemon logs a change just after making it, so
// a test that has seen the kernel change may read the log a moment too
// early; a wrong change makes the list differ for good.
func (p *proc) waitActions(what string, pick func([]logEntry) []logEntry, want ...string) {
	p.t.Helper()
	waitFor(p.t, fmt.Sprintf("%s: changes logged %q", what, want), func() string {
		return cmp.Diff(want, actions(pick(p.out.changes())), cmpEmpty)
	})
}

// changesOf returns the "changed" log lines about addr.
func changesOf(entries []logEntry, addr string) []logEntry {
	var out []logEntry
	for _, e := range entries {
		if strings.HasPrefix(e.Endpoint, addr+" ") {
			out = append(out, e)
		}
	}
	return out
}

// actions lists the actions of log lines.
func actions(entries []logEntry) []string {
	out := []string{}
	for _, e := range entries {
		out = append(out, e.Action)
	}
	return out
}

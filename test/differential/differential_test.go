package differential

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/internal/testbin"
	"github.com/mptcpd/mptcpd/pkg/netns"
)

const defaultSteps = 500

func TestDifferential(t *testing.T) {
	nstest.RequireRoot(t)
	steps := envInt(t, "MPTCPD_DIFF_STEPS", defaultSteps)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MPTCPD_DIFF_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MPTCPD_DIFF_SEED=%q: %v", s, err)
		}
		seed = v
	}
	// Printed both ways: t.Logf shows with -v or on failure, stdout always
	// reaches the CI log.
	banner := fmt.Sprintf("differential test: seed %d, %d steps (repeat with MPTCPD_DIFF_SEED=%d MPTCPD_DIFF_STEPS=%d)", seed, steps, seed, steps)
	fmt.Println(banner)
	t.Log(banner)

	bin := buildMptcpd(t)
	ref := newWorld(t)  // driven by ip
	ours := newWorld(t) // driven by mptcpd
	gen := &generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}

	var done []step
	fail := func(format string, args ...any) {
		t.Helper()
		var b strings.Builder
		fmt.Fprintf(&b, "step %d: ip %s\n", len(done), done[len(done)-1])
		fmt.Fprintf(&b, format, args...)
		fmt.Fprintf(&b, "\nreproduce: MPTCPD_DIFF_SEED=%d MPTCPD_DIFF_STEPS=%d go test ./test/differential -run TestDifferential\nsteps:\n", seed, len(done))
		for i, s := range done {
			fmt.Fprintf(&b, "%4d  ip %s", i+1, s)
			if s.stricter != "" {
				fmt.Fprintf(&b, "  # %s", s.stricter)
			}
			b.WriteByte('\n')
		}
		t.Fatal(b.String())
	}

	outcomes := map[outcome]int{}
	defer func() {
		t.Logf("ip's outcomes: %d successes, %d usage errors, %d kernel errors", outcomes[succeeded], outcomes[usageError], outcomes[kernelError])
	}()
	refState := stateIP(t, ref)
	for i := 0; i < steps; i++ {
		st := gen.next(parseEndpoints(refState))
		done = append(done, st)
		ipRes := runIP(t, ref, st)
		ourRes := runMptcpd(t, bin, ours, st)
		outcomes[ipOutcome(ipRes.code)]++
		if msg := compareResults(st, ipRes, ourRes); msg != "" {
			fail("%s\n  ip:     %s\n  mptcpd: %s", msg, ipRes, ourRes)
		}

		refState = stateIP(t, ref)
		if diff := cmp.Diff(refState, stateIP(t, ours)); diff != "" {
			fail("the kernels differ (-ip's namespace +mptcpd's namespace):\n%s", diff)
		}
		if diff := cmp.Diff(refState, stateMptcpd(t, bin, ours)); diff != "" {
			fail("mptcpd shows its namespace differently from ip (-ip +mptcpd):\n%s", diff)
		}
	}
}

// TestLaminar checks the laminar flag, which the random test leaves out
// because iproute2 6.1 cannot add it: mptcpd sets 0x20 and shows
// "laminar", while ip 6.1 shows the same endpoint as "rawflags 20".
func TestLaminar(t *testing.T) {
	nstest.RequireRoot(t)
	bin := buildMptcpd(t)
	ns := newWorld(t)

	if res := runIP(t, ns, step{args: []string{"endpoint", "add", "10.1.0.2", "laminar"}}); res.code == 0 {
		t.Fatalf("ip 6.1 accepted the laminar flag (%s); the random test could cover it now", res)
	}
	for _, args := range [][]string{
		{"endpoint", "add", "10.1.0.1", "id", "1", "subflow", "laminar"},
		{"endpoint", "change", "id", "1", "backup"}, // keeps laminar: it is not a changeable flag
	} {
		if res := runMptcpd(t, bin, ns, step{args: args}); res.code != 0 {
			t.Fatalf("mptcpd %s: %s", strings.Join(args, " "), res)
		}
	}
	checks := []struct {
		name string
		got  result
		want string
	}{
		{"ip", runIP(t, ns, step{args: []string{"endpoint", "show"}}), "10.1.0.1 id 1 subflow backup rawflags 20 \n"},
		{"ip -j", runIP(t, ns, step{global: []string{"-j"}, args: []string{"endpoint", "show"}}), `[{"address":"10.1.0.1","id":1,"subflow":true,"backup":true,"rawflags":"20"}]` + "\n"},
		{"mptcpd", runMptcpd(t, bin, ns, step{args: []string{"endpoint", "show"}}), "10.1.0.1 id 1 subflow backup laminar \n"},
		{"mptcpd -j", runMptcpd(t, bin, ns, step{global: []string{"-j"}, args: []string{"endpoint", "show", "id", "1"}}), `[{"address":"10.1.0.1","id":1,"subflow":true,"backup":true,"laminar":true}]` + "\n"},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got.stdout); diff != "" {
			t.Errorf("%s endpoint show (-want +got):\n%s", c.name, diff)
		}
	}
}

// step is one command: the words after `ip mptcp` (and after `mptcpd`),
// with global options before them.
type step struct {
	global []string
	args   []string
	// stricter, when set, says why mptcpd refuses this line as a usage
	// error while ip 6.1 sends it to a kernel that refuses it.
	stricter string
}

// String writes the step as an ip command line without the leading "ip".
func (s step) String() string {
	words := append(append(append([]string{}, s.global...), "mptcp"), s.args...)
	return strings.Join(words, " ")
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// outcome is what a command's exit status says.
type outcome int

const (
	invalid outcome = iota
	succeeded
	usageError  // the command line was refused before reaching the kernel
	kernelError // the kernel refused it
)

var outcomeNames = map[outcome]string{invalid: "an unexpected exit status", succeeded: "success", usageError: "a usage error", kernelError: "a kernel error"}

// ipOutcome reads ip 6.1's exit statuses: 255 for usage errors (exit(-1)),
// 1 for a word that is no address (get_addr exits 1), 2 when the kernel
// refuses (do_cmd returns -(-2)).
func ipOutcome(code int) outcome {
	switch code {
	case 0:
		return succeeded
	case 1, 255:
		return usageError
	case 2:
		return kernelError
	}
	return invalid
}

// mptcpdOutcome reads mptcpd's documented exit statuses.
func mptcpdOutcome(code int) outcome {
	switch code {
	case 0:
		return succeeded
	case 2:
		return usageError
	case 1:
		return kernelError
	}
	return invalid
}

func compareResults(st step, ip, ours result) string {
	ipOut, ourOut := ipOutcome(ip.code), mptcpdOutcome(ours.code)
	if ipOut == invalid || ourOut == invalid {
		return "unexpected exit status"
	}
	if ipOut != ourOut {
		if !(st.stricter != "" && ipOut == kernelError && ourOut == usageError) {
			return fmt.Sprintf("ip ends in %s, mptcpd in %s", outcomeNames[ipOut], outcomeNames[ourOut])
		}
	}
	if ip.stdout != ours.stdout {
		return "the output differs:\n" + cmp.Diff(ip.stdout, ours.stdout)
	}
	return ""
}

// newWorld makes a namespace like every other one: a veth pair eth1/eth2
// with the same addresses, and a TCP listener on 10.1.0.1:5555 so that a
// signal endpoint with that port fails (EADDRINUSE) in both.
func newWorld(t *testing.T) string {
	t.Helper()
	ns := nstest.NewNS(t)
	nstest.IP(t, "-n", ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth2")
	for _, cmd := range [][]string{
		{"link", "set", "eth1", "up"},
		{"link", "set", "eth2", "up"},
		{"addr", "add", "10.1.0.1/24", "dev", "eth1"},
		{"addr", "add", "10.1.0.2/24", "dev", "eth1"},
		{"addr", "add", "10.2.0.1/24", "dev", "eth2"},
		{"addr", "add", "2001:db8:1::1/64", "dev", "eth1", "nodad"},
		{"addr", "add", "2001:db8:2::1/64", "dev", "eth2", "nodad"},
	} {
		nstest.IP(t, append([]string{"-n", ns}, cmd...)...)
	}
	h, err := netns.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var l net.Listener
	if err := h.Do(func() error {
		var err error
		l, err = net.Listen("tcp4", "10.1.0.1:5555")
		return err
	}); err != nil {
		t.Fatalf("listen in %s: %v", ns, err)
	}
	t.Cleanup(func() { l.Close() })
	return ns
}

// buildMptcpd builds the binary as the Makefile does.
func buildMptcpd(t *testing.T) string {
	t.Helper()
	bin, err := testbin.BuildMptcpd(t.TempDir(), "-trimpath", "-ldflags", "-s -w")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func run(t *testing.T, stdin string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out", name, strings.Join(args, " "))
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

func runIP(t *testing.T, ns string, st step) result {
	t.Helper()
	args := append([]string{"-n", ns}, st.global...)
	return run(t, "", "ip", append(append(args, "mptcp"), st.args...)...)
}

func runMptcpd(t *testing.T, bin, ns string, st step) result {
	t.Helper()
	args := append([]string{"-n", ns}, st.global...)
	return run(t, "", bin, append(args, st.args...)...)
}

// stateIP is what ip shows of a namespace's endpoints and limits, read in
// one process.
func stateIP(t *testing.T, ns string) string {
	t.Helper()
	res := run(t, "mptcp endpoint show\nmptcp limits show\n", "ip", "-n", ns, "-batch", "-")
	if res.code != 0 {
		t.Fatalf("ip -n %s -batch: %s", ns, res)
	}
	return res.stdout
}

func stateMptcpd(t *testing.T, bin, ns string) string {
	t.Helper()
	res := run(t, "endpoint show\nlimits show\n", bin, "-n", ns, "-batch", "-")
	if res.code != 0 {
		t.Fatalf("mptcpd -n %s -batch: %s", ns, res)
	}
	return res.stdout
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		t.Fatalf("%s=%q: want a number of steps", name, s)
	}
	return v
}

// Command apply is what `make bench` measures of `mptcpd apply`, as whole
// processes interleaved in one run so that both sides see the same machine:
//
//   - apply of 8 endpoints and the limits to an empty table, against
//     `ip -batch` of the same 8 adds and limits set (goal: at most 1.0x);
//   - apply on a table that already matches, against
//     `ip mptcp endpoint show` (goal: at most 1.5x), checking each time that
//     the apply wrote nothing: it prints "no changes" and the table, ids
//     included, is the same afterwards.
//
// Between timed runs the table is flushed and the limits reset, untimed.
// To tell start-up from work it also times each program doing nothing
// (`mptcpd version`, `ip -V`) and prints the package initialisation cost of
// mptcpd (GODEBUG=inittrace=1). It needs root: it makes a network
// namespace with 8 addresses on veth links, and deletes it at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// endpoints is how many endpoints the table gets: the kernel's maximum.
const endpoints = 8

// Goals from the acceptance criteria of the declarative commands.
const (
	goalEmpty     = 1.0 // apply to an empty table / ip -batch
	goalConverged = 1.5 // apply to a converged table / ip mptcp endpoint show
)

func main() {
	mptcpd := flag.String("mptcpd", "", "the mptcpd binary to measure (required)")
	rounds := flag.Int("rounds", 100, "timed runs of each command")
	flag.Parse()
	if *mptcpd == "" || flag.NArg() > 0 || *rounds < 1 {
		flag.Usage()
		os.Exit(2)
	}
	// Interrupting stops at the next command and still deletes the
	// namespace.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The report is printed once the namespace is gone, so that a reader
	// that stops early (| head) cannot leave it behind.
	var report strings.Builder
	bin, err := filepath.Abs(*mptcpd)
	if err == nil {
		err = run(ctx, bin, *rounds, &report)
	}
	os.Stdout.WriteString(report.String())
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/apply:", err)
		os.Exit(1)
	}
}

// bench is one run's namespace and files.
type bench struct {
	mptcpd string
	ns     string
	config string // the YAML file apply reads
	batch  string // the same changes for ip -batch
	reset  string // ip -batch file that empties the table and resets the limits
}

func run(ctx context.Context, mptcpd string, rounds int, w io.Writer) error {
	dir, err := os.MkdirTemp("", "bench-apply")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := bench{mptcpd: mptcpd, ns: fmt.Sprintf("mptcpd-bench-apply-%d", os.Getpid())}
	if err := ip("netns", "add", b.ns); err != nil {
		return err
	}
	err = b.makeLinks()
	if err == nil {
		err = b.writeFiles(dir)
	}
	if err == nil {
		err = b.measure(ctx, rounds, w)
	}
	return errors.Join(err, b.deleteNamespace())
}

// makeLinks gives the namespace 4 veth pairs, both ends up, and one
// address on each of the 8 links (dummy links are not available
// everywhere; veth is).
func (b *bench) makeLinks() error {
	cmds := [][]string{{"link", "set", "lo", "up"}}
	for i := 0; i < endpoints; i += 2 {
		cmds = append(cmds, []string{"link", "add", link(i), "type", "veth", "peer", "name", link(i + 1)})
	}
	for i := range endpoints {
		cmds = append(cmds,
			[]string{"link", "set", link(i), "up"},
			[]string{"addr", "add", addr(i) + "/24", "dev", link(i)})
	}
	for _, c := range cmds {
		if err := ip(append([]string{"-n", b.ns}, c...)...); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) deleteNamespace() error {
	if out, err := exec.Command("ip", "netns", "del", b.ns).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", b.ns, err, out)
	}
	return nil
}

func link(i int) string { return fmt.Sprintf("bench%d", i) }
func addr(i int) string { return fmt.Sprintf("10.77.%d.1", i) }

// The limits both sides set; the reset puts back a new namespace's.
const (
	limitsSubflows = 8
	limitsAccepted = 8
)

func (b *bench) writeFiles(dir string) error {
	var cfg, batch strings.Builder
	fmt.Fprintf(&cfg, "limits:\n  subflows: %d\n  add_addr_accepted: %d\nendpoints:\n", limitsSubflows, limitsAccepted)
	for i := range endpoints {
		fmt.Fprintf(&cfg, "  - address: %s\n    dev: %s\n    id: %d\n    flags: [subflow]\n", addr(i), link(i), i+1)
		fmt.Fprintf(&batch, "mptcp endpoint add %s dev %s id %d subflow\n", addr(i), link(i), i+1)
	}
	fmt.Fprintf(&batch, "mptcp limits set subflows %d add_addr_accepted %d\n", limitsSubflows, limitsAccepted)
	b.config = filepath.Join(dir, "mptcpd.yaml")
	b.batch = filepath.Join(dir, "adds.batch")
	b.reset = filepath.Join(dir, "reset.batch")
	files := map[string]string{
		b.config: cfg.String(),
		b.batch:  batch.String(),
		b.reset:  "mptcp endpoint flush\nmptcp limits set subflows 2 add_addr_accepted 0\n",
	}
	for path, content := range files {
		// apply accepts only a file that no one but root can write.
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return err
		}
		if err := os.Chmod(path, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// sample is one timed command and its timings.
type sample struct {
	name  string
	argv  []string
	times []time.Duration
}

func (s *sample) time() (string, error) {
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return "", fmt.Errorf("%s: %v: %s%s", strings.Join(s.argv, " "), err, stdout.String(), stderr.String())
	}
	s.times = append(s.times, d)
	return stdout.String(), nil
}

func (b *bench) measure(ctx context.Context, rounds int, w io.Writer) error {
	applyEmpty := &sample{name: "mptcpd apply (empty table)", argv: []string{b.mptcpd, "-n", b.ns, "apply", "-c", b.config}}
	ipBatch := &sample{name: "ip -batch", argv: []string{"ip", "-n", b.ns, "-batch", b.batch}}
	applyConverged := &sample{name: "mptcpd apply (converged)", argv: applyEmpty.argv}
	ipShow := &sample{name: "ip mptcp endpoint show", argv: []string{"ip", "-n", b.ns, "mptcp", "endpoint", "show"}}
	startMptcpd := &sample{name: "mptcpd version", argv: []string{b.mptcpd, "version"}}
	startIP := &sample{name: "ip -V", argv: []string{"ip", "-V"}}
	// mptcpd's own ip-compatible dump: start-up plus one path manager
	// socket and one dump, without the config, rtnetlink or the plan.
	showMptcpd := &sample{name: "mptcpd endpoint show", argv: []string{b.mptcpd, "-n", b.ns, "endpoint", "show"}}

	// The table both ways of filling it must reach.
	if err := b.resetTable(); err != nil {
		return err
	}
	if err := ip("-n", b.ns, "-batch", b.batch); err != nil {
		return err
	}
	want, err := b.table()
	if err != nil {
		return err
	}

	for r := range rounds {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted after %d rounds: %w", r, err)
		}
		// Alternate who goes first, so that neither always runs right
		// after the untimed reset.
		fills := []*sample{applyEmpty, ipBatch}
		reads := []*sample{applyConverged, ipShow, showMptcpd}
		starts := []*sample{startMptcpd, startIP}
		if r%2 == 1 {
			slices.Reverse(fills)
			slices.Reverse(reads)
			slices.Reverse(starts)
		}
		for _, s := range starts {
			if _, err := s.time(); err != nil {
				return err
			}
		}
		for _, s := range fills {
			if err := b.resetTable(); err != nil {
				return err
			}
			if _, err := s.time(); err != nil {
				return err
			}
			if err := b.expectTable(want, s.name); err != nil {
				return err
			}
		}
		for _, s := range reads {
			out, err := s.time()
			if err != nil {
				return err
			}
			if s == applyConverged && out != "no changes\n" {
				return fmt.Errorf("round %d: apply on a converged table printed %q, want \"no changes\"", r, out)
			}
			// No write: the table, ids and limits included, is as before.
			if err := b.expectTable(want, s.name); err != nil {
				return err
			}
		}
	}

	fmt.Fprintf(w, "mptcpd apply against ip, %d interleaved runs each, as whole processes (%d endpoints + limits)\n", rounds, endpoints)
	fmt.Fprintf(w, "%-28s %10s %10s\n", "", "median", "p90")
	for _, s := range []*sample{applyEmpty, ipBatch, applyConverged, ipShow, showMptcpd, startMptcpd, startIP} {
		fmt.Fprintf(w, "%-28s %10s %10s\n", s.name, ms(quantile(s.times, 0.5)), ms(quantile(s.times, 0.9)))
	}
	fmt.Fprintln(w)
	ratio(w, "apply to an empty table / ip -batch", applyEmpty, ipBatch, goalEmpty)
	ratio(w, "apply when converged / ip mptcp endpoint show", applyConverged, ipShow, goalConverged)
	fmt.Fprintf(w, "apply when converged wrote nothing in %d of %d runs (output \"no changes\", table and ids unchanged)\n", rounds, rounds)

	fmt.Fprintln(w)
	start := quantile(startMptcpd.times, 0.5)
	fmt.Fprintf(w, "where apply's time goes (medians): starting mptcpd and doing nothing %s; the rest of an apply to an empty table %s, of a converged one %s\n",
		ms(start), ms(quantile(applyEmpty.times, 0.5)-start), ms(quantile(applyConverged.times, 0.5)-start))
	fmt.Fprintf(w, "mptcpd endpoint show beyond start-up (namespace, one socket, one dump): %s\n", ms(quantile(showMptcpd.times, 0.5)-start))
	fmt.Fprintf(w, "ip starting and doing nothing: %s\n", ms(quantile(startIP.times, 0.5)))
	return printInitTrace(w, b.mptcpd)
}

func ratio(w io.Writer, what string, ours, theirs *sample, goal float64) {
	med := float64(quantile(ours.times, 0.5)) / float64(quantile(theirs.times, 0.5))
	p90 := float64(quantile(ours.times, 0.9)) / float64(quantile(theirs.times, 0.9))
	verdict := "met"
	if med > goal {
		verdict = "NOT met"
	}
	fmt.Fprintf(w, "%-48s %.2fx median, %.2fx p90 (goal at most %.1fx: %s)\n", what+":", med, p90, goal, verdict)
}

func (b *bench) resetTable() error { return ip("-n", b.ns, "-batch", b.reset) }

// table is the endpoint table and the limits, as ip prints them.
func (b *bench) table() (string, error) {
	eps, err := exec.Command("ip", "-n", b.ns, "mptcp", "endpoint", "show").Output()
	if err != nil {
		return "", fmt.Errorf("ip mptcp endpoint show: %w", err)
	}
	limits, err := exec.Command("ip", "-n", b.ns, "mptcp", "limits", "show").Output()
	if err != nil {
		return "", fmt.Errorf("ip mptcp limits show: %w", err)
	}
	if n := strings.Count(string(eps), "\n"); n != endpoints {
		return "", fmt.Errorf("the table has %d endpoints, want %d:\n%s", n, endpoints, eps)
	}
	return string(eps) + string(limits), nil
}

func (b *bench) expectTable(want, after string) error {
	got, err := b.table()
	if err != nil {
		return fmt.Errorf("after %s: %w", after, err)
	}
	if got != want {
		return fmt.Errorf("after %s the table is\n%s\nwant\n%s", after, got, want)
	}
	return nil
}

// printInitTrace runs `mptcpd version` with GODEBUG=inittrace=1 and prints
// the total package initialisation time and its largest parts.
func printInitTrace(w io.Writer, mptcpd string) error {
	cmd := exec.Command(mptcpd, "version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("GODEBUG=inittrace=1 %s version: %w", mptcpd, err)
	}
	// Lines look like: "init github.com/x/y @1.2 ms, 0.035 ms clock, 1234 bytes, 12 allocs".
	type pkgInit struct {
		name  string
		clock float64
	}
	var inits []pkgInit
	var total float64
	last := ""
	for line := range strings.SplitSeq(stderr.String(), "\n") {
		f := strings.Fields(line)
		if len(f) < 7 || f[0] != "init" || f[6] != "clock," {
			continue
		}
		clock, err := strconv.ParseFloat(f[4], 64)
		if err != nil {
			return fmt.Errorf("inittrace line %q: %w", line, err)
		}
		inits = append(inits, pkgInit{f[1], clock})
		total += clock
		last = strings.TrimPrefix(f[2], "@")
	}
	if len(inits) == 0 {
		return fmt.Errorf("GODEBUG=inittrace=1 printed no init lines:\n%s", stderr.String())
	}
	slices.SortFunc(inits, func(a, b pkgInit) int {
		switch {
		case a.clock > b.clock:
			return -1
		case a.clock < b.clock:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	fmt.Fprintf(w, "mptcpd package init (GODEBUG=inittrace=1, one run): %.2f ms of init functions in %d packages, the last one done %s ms after start; largest:\n",
		total, len(inits), last)
	for _, in := range inits[:min(5, len(inits))] {
		fmt.Fprintf(w, "  %-60s %.3f ms\n", in.name, in.clock)
	}
	return nil
}

func ip(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

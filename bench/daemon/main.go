// Command daemon is what `make bench` measures of `mptcpd run`:
//
//   - address event -> endpoint installed: in a fresh network namespace
//     with the daemon following an interface entry, an IPv4 address is
//     added to the interface over rtnetlink (no process start in the
//     measurement) and the endpoint table is polled until the endpoint
//     appears; then the address is deleted and the endpoint must go. p50 and
//     p99 over -adds rounds;
//   - the same for Intel's mptcpd (Debian packages mptcpd and
//     mptcpd-plugins, path manager addr_adv), installed with apt-get when
//     missing, reported as a ratio; skipped with the reason when it cannot
//     be installed or run;
//   - the daemon's resident memory right after start and after -events
//     address events, and its CPU use at rest over -idle, with the default
//     resync interval.
//
// Every figure is printed with its goal, met or not. It exits non-zero only
// when it could not measure. It needs root, and deletes the namespaces and
// stops the processes it made.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

type options struct {
	mptcpd  string
	adds    int
	gap     time.Duration
	poll    time.Duration
	timeout time.Duration
	events  int
	idle    time.Duration
	intel   bool
	install bool
	env     []string // extra environment for our daemon
	dir     string   // parent of the bench's config and state directory
}

func main() {
	var o options
	flag.StringVar(&o.mptcpd, "mptcpd", "", "the mptcpd binary to measure (required)")
	flag.IntVar(&o.adds, "adds", 200, "address additions to time, per daemon")
	flag.DurationVar(&o.gap, "gap", 100*time.Millisecond,
		"pause before each round, longer than the daemon's 50ms minimum interval so that every addition is a fresh event")
	flag.DurationVar(&o.poll, "poll", 50*time.Microsecond, "how often the endpoint table is read while waiting")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Second, "give up on an endpoint after this long")
	flag.IntVar(&o.events, "events", 10000, "address events (adds and deletes) before the second memory reading")
	flag.DurationVar(&o.idle, "idle", 10*time.Second, "how long to measure CPU use at rest")
	flag.BoolVar(&o.intel, "intel", true, "also measure Intel's mptcpd")
	flag.BoolVar(&o.install, "install", true, "install Intel's mptcpd with apt-get if it is missing")
	flag.StringVar(&o.dir, "dir", "/var/tmp",
		"where to put the daemon's config file: a quiet directory, as /etc is for the real file (the daemon watches every directory on the path, so a busy shared /tmp wakes it at rest)")
	flag.Func("daemon-env", "KEY=VALUE added to mptcpd's environment (repeatable), e.g. GOGC=50 to compare runtime settings", func(s string) error {
		if !strings.Contains(s, "=") {
			return fmt.Errorf("%q is not KEY=VALUE", s)
		}
		o.env = append(o.env, s)
		return nil
	})
	flag.Parse()
	if o.mptcpd == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/daemon:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if err := mustRoot(); err != nil {
		return err
	}
	bin, err := filepath.Abs(o.mptcpd)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(o.dir, "mptcpd-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	fmt.Printf("== mptcpd daemon benchmark: %d additions per daemon, %d address events, %v at rest ==\n", o.adds, o.events, o.idle)
	fmt.Printf("load average at start: %s\n", loadAverage())
	defer func() { fmt.Printf("load average at the end: %s\n", loadAverage()) }()
	ours, err := measureOurs(ctx, o, bin, tmp)
	if err != nil {
		return fmt.Errorf("mptcpd: %w", err)
	}
	var intel *latencies
	intelNote := "not measured (-intel=false)"
	if o.intel {
		intel, intelNote, err = measureIntel(ctx, o)
		if err != nil {
			return fmt.Errorf("measure the Intel daemon: %w", err)
		}
	}
	report(o, ours, intel, intelNote)
	return nil
}

// latencies are the times from an address change to the endpoint table
// following it.
type latencies struct {
	add, del []time.Duration
	mem      memory // right after start
}

// ourFigures are the measurements of our daemon.
type ourFigures struct {
	latencies
	memAfterRounds         memory // after the timed rounds (2 events each)
	memAfterEvents, memEnd memory
	runsBefore, runsAfter  int64 // reconcile runs around the address events
	cpuTicks, cpuNanos     int64
}

func measureOurs(ctx context.Context, o options, bin, tmp string) (ourFigures, error) {
	var f ourFigures
	env, err := newNetEnv(fmt.Sprintf("mptcpd-bench-%d", os.Getpid()))
	if err != nil {
		return f, err
	}
	defer env.Close()

	config := filepath.Join(tmp, "mptcpd.yaml")
	if err := writeConfig(config); err != nil {
		return f, err
	}
	stateDir := filepath.Join(tmp, "state")
	p, err := startProcess("mptcpd", []string{bin, "-n", env.name, "run", "-c", config, "--state-dir", stateDir, "--log-format", "json"}, o.env...)
	if err != nil {
		return f, err
	}
	defer p.stop(5 * time.Second)
	if err := probe(env, p, o); err != nil {
		return f, err
	}
	if f.mem, err = readMemory(p.pid()); err != nil {
		return f, err
	}
	fmt.Printf("mptcpd: running (pid %d), timing %d additions\n", p.pid(), o.adds)
	if f.add, f.del, err = measureLatency(ctx, env, o, 77); err != nil {
		return f, withOutput(err, p)
	}

	if f.memAfterRounds, err = readMemory(p.pid()); err != nil {
		return f, err
	}
	fmt.Printf("mptcpd: %d address events\n", o.events)
	status := func() (int64, error) { return runs(ctx, bin, env.name, stateDir) }
	if f.runsBefore, err = status(); err != nil {
		return f, err
	}
	if err := storm(ctx, env, o.events); err != nil {
		return f, err
	}
	// Past one resync interval, the daemon has seen the last of it.
	if err := sleep(ctx, 1500*time.Millisecond); err != nil {
		return f, err
	}
	if eps := env.endpoints(); len(eps) != 0 {
		return f, withOutput(fmt.Errorf("endpoints left after the address events, whose addresses are all gone: %v", eps), p)
	}
	if f.runsAfter, err = status(); err != nil {
		return f, err
	}
	if f.memAfterEvents, err = readMemory(p.pid()); err != nil {
		return f, err
	}

	fmt.Printf("mptcpd: at rest for %v\n", o.idle)
	t0, err1 := cpuTicks(p.pid())
	n0, err2 := cpuNanos(p.pid())
	if err := errors.Join(err1, err2); err != nil {
		return f, err
	}
	if err := sleep(ctx, o.idle); err != nil {
		return f, err
	}
	t1, err1 := cpuTicks(p.pid())
	n1, err2 := cpuNanos(p.pid())
	if err := errors.Join(err1, err2); err != nil {
		return f, err
	}
	f.cpuTicks, f.cpuNanos = t1-t0, n1-n0
	if f.memEnd, err = readMemory(p.pid()); err != nil {
		return f, err
	}
	if err := p.stop(5 * time.Second); err != nil {
		return f, withOutput(fmt.Errorf("stop: %w", err), p)
	}
	return f, nil
}

func measureIntel(ctx context.Context, o options) (*latencies, string, error) {
	d, err := findIntel(o.install)
	if err != nil {
		return nil, "skipped: " + err.Error(), nil
	}
	env, err := newNetEnv(fmt.Sprintf("mptcpd-bench-%d-intel", os.Getpid()))
	if err != nil {
		return nil, "", err
	}
	defer env.Close()
	p, err := startProcess("Intel's mptcpd", d.argv(env.name))
	if err != nil {
		return nil, "skipped: " + err.Error(), nil
	}
	defer p.stop(5 * time.Second)
	if err := probe(env, p, o); err != nil {
		return nil, "skipped: it does not work here: " + err.Error(), nil
	}
	var l latencies
	if l.mem, err = readMemory(p.pid()); err != nil {
		return nil, "", err
	}
	fmt.Printf("Intel's mptcpd %s: running (pid %d), timing %d additions\n", d.bin, p.pid(), o.adds)
	if l.add, l.del, err = measureLatency(ctx, env, o, 79); err != nil {
		if ctx.Err() != nil {
			return nil, "", err
		}
		return nil, "skipped: it stopped following addresses: " + withOutput(err, p).Error(), nil
	}
	return &l, fmt.Sprintf("%s, path manager %s", d.bin, intelPlugin), nil
}

// writeConfig writes the daemon's file: one interface entry for the bench
// link. The daemon refuses files that others can write.
func writeConfig(path string) error {
	const content = "endpoints:\n  - interface: " + benchLink + "\n    family: ipv4\n    flags: [subflow]\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Chmod(path, 0o644)
}

// probe waits until the daemon reacts to addresses at all: untimed
// rounds, which also tell a daemon that cannot run here. A daemon that is
// still starting misses an address added before it listens (Intel's
// mptcpd reports only later changes), so the address is added again until
// the endpoint shows up or the time is up.
func probe(env *netEnv, p *process, o options) error {
	a := benchAddr(99, 0)
	deadline := time.Now().Add(10 * time.Second)
	for {
		start := time.Now()
		if err := env.addAddr(a); err != nil {
			return err
		}
		_, err := env.waitEndpoint(a, true, start, time.Millisecond, 500*time.Millisecond)
		if delErr := env.delAddr(a); delErr != nil {
			return delErr
		}
		if runErr := p.running(); runErr != nil {
			return runErr
		}
		if err == nil {
			_, err = env.waitEndpoint(a, false, time.Now(), time.Millisecond, o.timeout)
			return withOutputIf(err, p)
		}
		if time.Now().After(deadline) {
			return withOutput(err, p)
		}
		// Let the deletion reach the daemon before the next attempt.
		time.Sleep(100 * time.Millisecond)
	}
}

// measureLatency times n rounds of: pause; add an address, wait for its
// endpoint; delete it, wait for the endpoint to go. The pause comes first
// so that the daemon has finished with whatever came before (the probe's
// deletion waits for an RCU grace period inside the kernel).
func measureLatency(ctx context.Context, env *netEnv, o options, base byte) (add, del []time.Duration, err error) {
	for i := range o.adds {
		time.Sleep(o.gap)
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		a := benchAddr(base, i)
		start := time.Now()
		if err := env.addAddr(a); err != nil {
			return nil, nil, err
		}
		d, err := env.waitEndpoint(a, true, start, o.poll, o.timeout)
		if err != nil {
			return nil, nil, err
		}
		add = append(add, d)
		start = time.Now()
		if err := env.delAddr(a); err != nil {
			return nil, nil, err
		}
		if d, err = env.waitEndpoint(a, false, start, o.poll, o.timeout); err != nil {
			return nil, nil, err
		}
		del = append(del, d)
	}
	return add, del, nil
}

// storm makes n address events as fast as rtnetlink takes them: additions
// and deletions in turn, so that the link ends as it began.
func storm(ctx context.Context, env *netEnv, n int) error {
	for i := 0; i < n; i += 2 {
		if err := ctx.Err(); err != nil {
			return err
		}
		a := benchAddr(78, i/2)
		if err := env.addAddr(a); err != nil {
			return err
		}
		if err := env.delAddr(a); err != nil {
			return err
		}
	}
	return nil
}

// runs asks the daemon how many reconcile runs it has made.
func runs(ctx context.Context, bin, ns, stateDir string) (int64, error) {
	out, err := exec.CommandContext(ctx, bin, "-n", ns, "status", "-o", "json", "--state-dir", stateDir).Output()
	if err != nil {
		return 0, fmt.Errorf("mptcpd status: %w", err)
	}
	var st struct {
		Daemon struct {
			Runs int64 `json:"runs"`
		} `json:"daemon"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return 0, fmt.Errorf("mptcpd status: %w", err)
	}
	return st.Daemon.Runs, nil
}

// loadAverage is the machine's 1, 5 and 15 minute load, so that a reader
// can tell figures from a busy machine.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return fmt.Sprintf("%s %s %s (%d CPUs)", f[0], f[1], f[2], runtime.NumCPU())
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func withOutputIf(err error, p *process) error {
	if err == nil {
		return nil
	}
	return withOutput(err, p)
}

func withOutput(err error, p *process) error {
	return fmt.Errorf("%w\n%s output:\n%s", err, p.name, lastLines(p.out.String(), 20))
}

// quantile is the nearest-rank q-quantile.
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

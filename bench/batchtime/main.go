// Command batchtime times `mptcpd -n NS -batch FILE` against
// `ip -n NS -batch FILE` for the same file of endpoint adds, as whole
// processes, alternating the two in one run so that both see the same
// machine. The namespace is flushed between runs, untimed. It prints the
// median and 90th percentile of each and the ratio mptcpd/ip, and, to tell
// start-up from work, the median of starting each doing nothing (`ip -V`,
// `mptcpd version`); bench/batch.sh builds mptcpd and makes the namespace.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func main() {
	ns := flag.String("ns", "", "network namespace to run in (required)")
	mptcpd := flag.String("mptcpd", "", "mptcpd binary (required)")
	rounds := flag.Int("rounds", 200, "timed runs of each")
	adds := flag.Int("adds", 8, "endpoint add lines in the batch file (the kernel allows 8)")
	flag.Parse()
	if *ns == "" || *mptcpd == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*ns, *mptcpd, *rounds, *adds); err != nil {
		fmt.Fprintln(os.Stderr, "batchtime:", err)
		os.Exit(1)
	}
}

func run(ns, mptcpd string, rounds, adds int) error {
	dir, err := os.MkdirTemp("", "batchtime")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// One file for both: mptcpd skips the leading "mptcp" of ip's lines.
	var b strings.Builder
	for i := 1; i <= adds; i++ {
		fmt.Fprintf(&b, "mptcp endpoint add 10.0.0.%d id %d subflow\n", i, i)
	}
	file := filepath.Join(dir, "adds.batch")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		return err
	}
	tools := []struct {
		name string
		argv []string
	}{
		{"ip", []string{"ip", "-n", ns, "-batch", file}},
		{"mptcpd", []string{mptcpd, "-n", ns, "-batch", file}},
	}
	// Starting the process and doing nothing, to tell start-up cost from
	// the batch's work.
	starts := []struct {
		name string
		argv []string
	}{
		{"ip", []string{"ip", "-V"}},
		{"mptcpd", []string{mptcpd, "version"}},
	}
	times := make([][]time.Duration, len(tools))
	startTimes := make([][]time.Duration, len(starts))
	for r := 0; r < rounds; r++ {
		for k := range starts {
			i := (k + r) % len(starts)
			d, err := timed(starts[i].argv)
			if err != nil {
				return err
			}
			startTimes[i] = append(startTimes[i], d)
		}
		for k := range tools {
			// Alternate who goes first, so neither always follows a flush.
			i := (k + r) % len(tools)
			d, err := timed(tools[i].argv)
			if err != nil {
				return err
			}
			if r == 0 {
				if err := check(ns, adds); err != nil {
					return fmt.Errorf("%s: %w", tools[i].name, err)
				}
			}
			times[i] = append(times[i], d)
			if out, err := exec.Command("ip", "-n", ns, "mptcp", "endpoint", "flush").CombinedOutput(); err != nil {
				return fmt.Errorf("flush: %v: %s", err, out)
			}
		}
	}
	fmt.Printf("%d runs each of a batch of %d endpoint adds, as processes\n", rounds, adds)
	fmt.Printf("%-8s %10s %10s %16s\n", "", "median", "p90", "start-up median")
	var med, p90 [2]time.Duration
	for i, tl := range tools {
		med[i], p90[i] = quantile(times[i], 0.5), quantile(times[i], 0.9)
		fmt.Printf("%-8s %10s %10s %16s\n", tl.name, ms(med[i]), ms(p90[i]), ms(quantile(startTimes[i], 0.5)))
	}
	ratio := float64(med[1]) / float64(med[0])
	verdict := "within the goal of 1.0"
	if ratio > 1 {
		verdict = "above the goal of 1.0"
	}
	fmt.Printf("ratio mptcpd/ip: %.2f median, %.2f p90 (%s)\n", ratio, float64(p90[1])/float64(p90[0]), verdict)
	return nil
}

func timed(argv []string) (time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, stderr.String())
	}
	return d, nil
}

// check makes sure a batch did its work: every endpoint is there.
func check(ns string, adds int) error {
	out, err := exec.Command("ip", "-n", ns, "mptcp", "endpoint", "show").Output()
	if err != nil {
		return err
	}
	if got := strings.Count(string(out), "\n"); got != adds {
		return fmt.Errorf("the batch left %d endpoints, want %d", got, adds)
	}
	return nil
}

func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

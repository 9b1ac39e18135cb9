package main

import (
	"fmt"
	"strings"
	"time"
)

// Goals from the daemon's acceptance criteria.
const (
	goalP50Ratio = 2.0                  // our p50 at most twice Intel's
	goalP99      = 5 * time.Millisecond // our p99
	goalRSSKiB   = 8 << 10              // 8 MiB
	flatKiB      = 1 << 10              // growth over the address events that still counts as flat
	goalIdleCPU  = 0.1                  // percent of one core
)

func report(o options, ours ourFigures, intel *latencies, intelNote string) {
	fmt.Println()
	fmt.Printf("address event -> endpoint installed (%d additions of an IPv4 /32 over rtnetlink; endpoint table read every %v; %v between rounds)\n",
		o.adds, o.poll, o.gap)
	fmt.Printf("  %-22s %10s %10s %10s   %s\n", "", "p50", "p99", "max", "removal p50 / p99")
	row := func(name string, l latencies) {
		fmt.Printf("  %-22s %10s %10s %10s   %s / %s\n", name,
			ms(quantile(l.add, 0.5)), ms(quantile(l.add, 0.99)), ms(quantile(l.add, 1)),
			ms(quantile(l.del, 0.5)), ms(quantile(l.del, 0.99)))
	}
	row("mptcpd", ours.latencies)
	ourP50, ourP99 := quantile(ours.add, 0.5), quantile(ours.add, 0.99)
	if intel != nil {
		row("Intel's mptcpd", *intel)
		p50r := float64(ourP50) / float64(quantile(intel.add, 0.5))
		p99r := float64(ourP99) / float64(quantile(intel.add, 0.99))
		fmt.Printf("  %-22s %10.2f %10.2f\n", "ratio mptcpd/Intel", p50r, p99r)
		fmt.Printf("  Intel's mptcpd: %s\n", intelNote)
		verdict("p50 at most 2x Intel's", p50r <= goalP50Ratio, fmt.Sprintf("%.2fx", p50r))
	} else {
		fmt.Printf("  Intel's mptcpd: %s\n", intelNote)
		fmt.Println("  goal p50 at most 2x Intel's: not judged (no Intel figures)")
	}
	verdict("p99 at most 5 ms", ourP99 <= goalP99, ms(ourP99))

	fmt.Println()
	fmt.Print("mptcpd run, resync interval 1s (the default)")
	if len(o.env) > 0 {
		fmt.Printf(", environment %s", strings.Join(o.env, " "))
	}
	fmt.Println(":")
	fmt.Printf("  %-44s %10s %10s %10s\n", "resident memory (VmRSS = anonymous + file)", "VmRSS", "anonymous", "file")
	memRow := func(when string, m memory) {
		fmt.Printf("  %-44s %10s %10s %10s\n", when, mib(m.RSS), mib(m.Anon), mib(m.File))
	}
	memRow("right after start", ours.mem)
	memRow(fmt.Sprintf("after the %d timed rounds (%d events)", o.adds, 2*o.adds), ours.memAfterRounds)
	memRow(fmt.Sprintf("after %d more address events", o.events), ours.memAfterEvents)
	memRow(fmt.Sprintf("after %v at rest", o.idle), ours.memEnd)
	if intel != nil {
		memRow("Intel's mptcpd, right after start", intel.mem)
	}
	fmt.Printf("  reconcile runs for %d address events: %d\n", o.events, ours.runsAfter-ours.runsBefore)
	secs := o.idle.Seconds()
	precise := float64(ours.cpuNanos) / 1e9 / secs * 100
	ticks := float64(ours.cpuTicks) / userHZ / secs * 100
	fmt.Printf("  CPU at rest over %v: %.3f%% of one core (schedstat %.2f ms; utime+stime %d ticks = %.1f%%)\n",
		o.idle, precise, float64(ours.cpuNanos)/1e6, ours.cpuTicks, ticks)
	peak := max(ours.mem.RSS, ours.memAfterRounds.RSS, ours.memAfterEvents.RSS, ours.memEnd.RSS)
	verdict("RSS at most 8 MiB", peak <= goalRSSKiB, "largest VmRSS "+mib(peak))
	growth := ours.memAfterEvents.RSS - ours.memAfterRounds.RSS
	verdict(fmt.Sprintf("RSS flat (the %d events add at most 1 MiB)", o.events), growth <= flatKiB,
		fmt.Sprintf("%+d KiB over the events; %+d KiB since start", growth, ours.memAfterEvents.RSS-ours.mem.RSS))
	verdict("idle CPU at most 0.1% of a core", precise <= goalIdleCPU, fmt.Sprintf("%.3f%%", precise))
}

func verdict(goal string, met bool, figure string) {
	word := "met"
	if !met {
		word = "NOT MET"
	}
	fmt.Printf("  goal %s: %s (%s)\n", goal, word, figure)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

func mib(kib int64) string { return fmt.Sprintf("%.2f MiB", float64(kib)/1024) }

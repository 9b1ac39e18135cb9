package daemon

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// monotonicUsec reads CLOCK_MONOTONIC in microseconds, the clock of
// MONOTONIC_USEC.
func monotonicUsec(t *testing.T) int64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano() / 1000
}

// serviceState drops the datagrams that only update STATUS=: a reload the
// file watcher started (not systemd) says how it went that way, and its
// timing relative to the test's steps is not fixed. What is left changes
// the service state and must come in an exact order.
func serviceState(datagrams []string) []string {
	var out []string
	for _, d := range datagrams {
		if strings.HasPrefix(d, "STATUS=") && !strings.Contains(d, "\n") {
			continue
		}
		out = append(out, d)
	}
	return out
}

func TestNotifySequence(t *testing.T) {
	t.Parallel()
	h := newBasicHost(t)
	p := h.spawn()
	p.waitReady()
	// READY=1 means the first reconcile is done.
	if diff := cmp.Diff(basicEndpoints, h.described()); diff != "" {
		t.Errorf("endpoints when READY=1 arrived (-want +got):\n%s", diff)
	}

	// A good file, then `mptcpd reload`.
	good := strings.Replace(basicConfig, "subflows: 4", "subflows: 5", 1)
	h.writeConfig(good)
	h.waitLimits(5, 2)
	before := monotonicUsec(t)
	if res := h.reload(); res.code != 0 {
		t.Fatalf("mptcpd reload of a good file: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	after := monotonicUsec(t)

	// A bad file, then `mptcpd reload`.
	h.writeConfig(badConfig)
	waitFor(t, "the bad file to be rejected", func() string {
		if st := h.status(); st.Rejected == nil || st.Rejected.SHA256 != digest(badConfig) {
			return fmt.Sprintf("rejected_config = %+v", st.Rejected)
		}
		return ""
	})
	if res := h.reload(); res.code != 1 {
		t.Fatalf("mptcpd reload of a bad file: exit %d, want 1\n%s%s", res.code, res.stdout, res.stderr)
	}

	p.stop()
	// The datagram was sent before the exit, but the fake socket's reader
	// may not have taken it in yet.
	waitStopping(t, p)

	all := p.notify.Received()
	got := serviceState(all)
	installed := "3 endpoints installed, 0 withheld"
	want := []*regexp.Regexp{
		exactly(fmt.Sprintf("READY=1\nSTATUS=applied %s (%s): %s", h.config, digest(basicConfig)[:12], installed)),
		regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=[0-9]+$`),
		exactly(fmt.Sprintf("READY=1\nSTATUS=applied %s (%s): %s", h.config, digest(good)[:12], installed)),
		regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=[0-9]+$`),
		regexp.MustCompile(`^READY=1\nSTATUS=rejected ` + regexp.QuoteMeta(h.config) + `: ` + regexp.QuoteMeta(h.config) + `:5:5: [^\n]*; running on the last good config$`),
		exactly("STOPPING=1"),
	}
	if !matchAll(want, got) {
		t.Fatalf("notifications, apart from STATUS= updates:\n%s\nwant:\n%s\nall received:\n%q", quoteAll(got), quoteAll(want), all)
	}
	// The first reload's clock reading was taken during that reload.
	usec, err := strconv.ParseInt(strings.TrimPrefix(got[1], "RELOADING=1\nMONOTONIC_USEC="), 10, 64)
	if err != nil || usec < before || usec > after {
		t.Errorf("MONOTONIC_USEC=%d (%v), want a reading between %d and %d", usec, err, before, after)
	}
	for _, d := range all {
		if strings.Contains(d, "WATCHDOG=1") {
			t.Errorf("WATCHDOG=1 sent without WATCHDOG_USEC: %q", d)
		}
	}
}

func exactly(s string) *regexp.Regexp { return regexp.MustCompile("^" + regexp.QuoteMeta(s) + "$") }

func matchAll(want []*regexp.Regexp, got []string) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if !want[i].MatchString(got[i]) {
			return false
		}
	}
	return true
}

func quoteAll[T any](items []T) string {
	var b strings.Builder
	for i, it := range items {
		fmt.Fprintf(&b, "  %d: %q\n", i, fmt.Sprint(it))
	}
	return b.String()
}

func TestWatchdog(t *testing.T) {
	t.Parallel()
	h := newBasicHost(t)
	// WATCHDOG_PID cannot name a child before it starts; without it the
	// watchdog is meant for whoever reads WATCHDOG_USEC.
	p := h.start("WATCHDOG_USEC=" + strconv.Itoa(int(time.Second/time.Microsecond)))
	const want = 3
	waitFor(t, fmt.Sprintf("%d WATCHDOG=1 notifications", want), func() string {
		n := 0
		for _, d := range p.notify.Received() {
			if d == "WATCHDOG=1" {
				n++
			}
		}
		if n < want {
			return fmt.Sprintf("%d so far: %q", n, p.notify.Received())
		}
		return ""
	})
	p.stop()
	waitStopping(t, p)
	got := p.notify.Received()
	if last := got[len(got)-1]; last != "STOPPING=1" {
		t.Errorf("last notification %q, want STOPPING=1", last)
	}
}

// waitStopping waits until the fake NOTIFY_SOCKET has taken in STOPPING=1.
func waitStopping(t *testing.T, p *proc) {
	t.Helper()
	waitFor(t, "STOPPING=1 to arrive", func() string {
		for _, d := range p.notify.Received() {
			if d == "STOPPING=1" {
				return ""
			}
		}
		return fmt.Sprintf("received %q", p.notify.Received())
	})
}

package daemon

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestAddressStorm adds and deletes addresses on an interface entry's link
// a thousand times in one burst. The coalescing runner must turn the burst
// into far fewer runs, and the daemon must still end up with exactly the
// addresses that remain. It does not run in parallel, so that the figures
// it prints are not those of a machine busy with the other tests.
func TestAddressStorm(t *testing.T) {
	h := newHost(t)
	h.link("eth1", "10.1.0.1/24")
	h.writeConfig(`endpoints:
  - interface: eth1
    family: ipv4
    flags: [subflow]
`)
	h.start()
	h.waitEndpoints("10.1.0.1 subflow dev eth1")

	// 501 additions and 499 deletions: every address but the last two is
	// deleted again right after it was added.
	const adds = 501
	var batch strings.Builder
	events := 0
	for i := range adds {
		addr := fmt.Sprintf("10.9.%d.%d/32", i/250, i%250+1)
		fmt.Fprintf(&batch, "addr add %s dev eth1\n", addr)
		events++
		if i < adds-2 {
			fmt.Fprintf(&batch, "addr del %s dev eth1\n", addr)
			events++
		}
	}
	want := []string{"10.1.0.1 subflow dev eth1"}
	for i := adds - 2; i < adds; i++ {
		want = append(want, fmt.Sprintf("10.9.%d.%d subflow dev eth1", i/250, i%250+1))
	}

	runsBefore := h.status().Daemon.Runs
	cmd := exec.Command("ip", "-n", h.ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip -batch: %v\n%s", err, out)
	}
	stormEnd := time.Now()
	h.waitEndpoints(want...)
	converged := time.Now()
	runs := h.status().Daemon.Runs - runsBefore

	report := fmt.Sprintf("address storm: %d events in %v; converged %v after the storm; %d runs (including periodic re-reads every %v)",
		events, stormEnd.Sub(start).Round(time.Millisecond), converged.Sub(stormEnd).Round(time.Millisecond), runs, resyncInterval)
	t.Log(report)
	fmt.Println(report)
	if runs >= int64(events/10) {
		t.Errorf("%d runs for %d events; want fewer than %d: bursts must collapse", runs, events, events/10)
	}
}

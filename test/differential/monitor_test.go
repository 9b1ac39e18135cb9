package differential

import (
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/internal/testbin"
)

// TestMonitorMatchesIP runs `ip mptcp monitor` and `mptcpd monitor` side by
// side on one namespace while a real MPTCP connection with a second
// subflow comes and goes, and requires the same lines, byte for byte, for
// every event this iproute2 knows. (The listener events, which iproute2
// 6.1 prints as "[UNKNOWN 15]", mptcpd prints by name.)
func TestMonitorMatchesIP(t *testing.T) {
	bin := buildMptcpd(t)
	top := nstest.NewTopology(t)
	ns := top.Client
	nstest.IP(t, "-n", top.Client, "mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2")
	nstest.IP(t, "-n", top.Server, "mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2")
	nstest.IP(t, "-n", top.Server, "mptcp", "endpoint", "add", nstest.ServerAddr2, "id", "5", "signal")

	start := func(name string, args ...string) (*testbin.Child, *testbin.Buffer) {
		t.Helper()
		var out testbin.Buffer
		cmd := exec.Command(name, args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		child, err := testbin.Start(cmd)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = child.Stop(5 * time.Second) })
		return child, &out
	}
	ipMon, ipOut := start("ip", "-n", ns, "mptcp", "monitor")
	ourMon, ourOut := start(bin, "-n", ns, "monitor")
	// Both subscribe before any event: a listener made and closed until
	// each has printed it (mptcpd by name, ip as UNKNOWN).
	nstest.Eventually(t, 10*time.Second, func() bool {
		ln := nstest.ListenMPTCP(t, ns, "127.0.0.1:0")
		ln.Close()
		time.Sleep(20 * time.Millisecond)
		return strings.Contains(ipOut.String(), "[UNKNOWN 15]") && strings.Contains(ourOut.String(), "[LISTENER_CREATED]")
	}, "both monitors to print a listener event")
	mark := len(strings.Split(ipOut.String(), "\n")) - 1
	ourMark := len(strings.Split(ourOut.String(), "\n")) - 1

	ln := nstest.ListenMPTCP(t, top.Server, ":9000")
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	conn := nstest.DialMPTCP(t, ns, nstest.ServerAddr1+":9000")
	if _, err := conn.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	nstest.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(ourOut.String(), "SF_ESTABLISHED") && strings.Contains(ipOut.String(), "SF_ESTABLISHED")
	}, "the second subflow to be announced and established")
	conn.Close()
	nstest.Eventually(t, 10*time.Second, func() bool {
		return strings.Count(ourOut.String(), "CLOSED]") >= 1 && strings.Count(ipOut.String(), "CLOSED]") >= 1
	}, "the connection to close")
	time.Sleep(100 * time.Millisecond) // let both print the last events
	for _, c := range []*testbin.Child{ipMon, ourMon} {
		_ = c.Stop(5 * time.Second) // ip ends by the signal; only the output counts
	}

	known := func(out string, skip int) []string {
		var lines []string
		for i, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
			if i < skip || strings.Contains(l, "UNKNOWN") || strings.Contains(l, "LISTENER_") {
				continue
			}
			lines = append(lines, l)
		}
		return lines
	}
	want, got := known(ipOut.String(), mark), known(ourOut.String(), ourMark)
	if len(want) < 4 {
		t.Fatalf("ip printed only %d event lines:\n%s", len(want), ipOut.String())
	}
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Errorf("monitor output differs.\nip mptcp monitor:\n%s\nmptcpd monitor:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
	t.Logf("%d event lines alike:\n%s", len(want), strings.Join(want, "\n"))
}

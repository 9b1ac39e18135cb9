package live

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/pm"
)

// The endpoint the daemon manages in the client namespace: the client's
// second address, bound to its link, with a fixed id. The kernel opens the
// connection's second subflow from it.
const (
	endpointID  = 2
	endpointDev = "c2"
	serverPort  = "9000"
)

var endpointAddr = netip.MustParseAddr(nstest.ClientAddr2)

func configText(backup bool) string {
	flags := "[subflow]"
	if backup {
		flags = "[subflow, backup]"
	}
	return fmt.Sprintf(`limits:
  subflows: 2
  add_addr_accepted: 2
endpoints:
  - address: %s
    dev: %s
    id: %d
    flags: %s
`, endpointAddr, endpointDev, endpointID, flags)
}

// reload kinds, in the order the test cycles through them.
type reloadKind int

const (
	identicalRewrite reloadKind = iota // the same bytes, renamed over the file
	sighup                             // kill -HUP
	reloadCommand                      // `mptcpd reload` (systemctl reload)
	backupFlip                         // the file with the endpoint's backup flag flipped
	reloadKinds
)

func (k reloadKind) String() string {
	return [...]string{"identical rewrite", "SIGHUP", "mptcpd reload", "backup flip"}[k]
}

// Cycles of the four reload kinds before and after the restart: 13 cycles
// are 52 reloads (13 of them backup flips) on the first daemon.
const (
	cyclesBeforeRestart = 13
	cyclesAfterRestart  = 1
)

// TestLiveConnectionSurvivesReloadsAndRestart streams data both ways over
// an MPTCP connection with two subflows while the daemon managing the
// client's endpoint is reloaded 50+ times and restarted once, and requires
// that no subflow or connection closed, that the endpoint was never
// deleted and added again, that the peer saw every backup flip, and that
// every byte arrived intact.
func TestLiveConnectionSurvivesReloadsAndRestart(t *testing.T) {
	nstest.RequireRoot(t)
	bin := buildMptcpd(t)
	top := nstest.NewTopology(t)

	// Subscribe before anything happens, so that no close can slip by.
	clientEvents := record(t, top.Client)
	serverEvents := record(t, top.Server)

	serverPM := dialPM(t, top.Server)
	two := uint32(2)
	if err := serverPM.SetLimits(mptcp.LimitsUpdate{AddAddrAccepted: &two, Subflows: &two}); err != nil {
		t.Fatalf("server limits: %v", err)
	}
	clientPM := dialPM(t, top.Client)

	dir := t.TempDir()
	cfg := configFile{path: dir + "/mptcpd.yaml"}
	stateDir := dir + "/state"
	cfg.write(t, configText(false))
	d := startDaemon(t, bin, top.Client, cfg.path, stateDir)
	d.waitReady(t, 10*time.Second)

	want := mptcp.Endpoint{ID: endpointID, Addr: endpointAddr, Flags: mptcp.FlagSubflow, IfIndex: ifIndex(t, top.Client, endpointDev)}
	checkEndpoint(t, clientPM, want, "after start")
	if got, err := clientPM.Limits(); err != nil || got != (mptcp.Limits{Subflows: 2, AddAddrAccepted: 2}) {
		t.Fatalf("client limits after start = %+v, %v; want subflows 2 add_addr_accepted 2", got, err)
	}
	setupChanges := len(d.changes(t))

	cconn, sconn := connect(t, top)
	stop := make(chan struct{})
	up := startDirection("client -> server", cconn, sconn, 1, stop)
	down := startDirection("server -> client", sconn, cconn, 2, stop)
	// Once data flows the connection is fully established and the kernel
	// opens the second subflow from the endpoint.
	clientEvents.waitFor(t, 0, 5*time.Second, "the second subflow (SF_ESTABLISHED from the endpoint)", func(ev pm.Event) bool {
		return ev.Type == pm.EventSubEstablished && ev.Saddr == endpointAddr && ev.LocalID == endpointID
	})

	drv := &driver{t: t, cfg: cfg, d: d, client: clientPM, server: serverEvents, want: want}
	drv.cycles(cyclesBeforeRestart)
	reloadsBeforeRestart, flipsBeforeRestart := drv.reloads, drv.flips
	checkChanges(t, d, setupChanges, flipsBeforeRestart, "by the reloads")

	// The restart: SIGTERM leaves the kernel as it is; the new process
	// finds it converged and changes nothing.
	if err := d.stop(5 * time.Second); err != nil {
		t.Fatalf("daemon stop: %v\nlog:\n%s", err, d.log)
	}
	checkEndpoint(t, clientPM, drv.want, "after SIGTERM")
	d = startDaemon(t, bin, top.Client, cfg.path, stateDir)
	if st := d.waitReady(t, 10*time.Second); st.LastRun.Changes != 0 {
		t.Errorf("the restarted daemon's first run made %d changes, want 0", st.LastRun.Changes)
	}
	if ch := d.changes(t); len(ch) != 0 {
		t.Errorf("the restarted daemon changed the converged kernel: %+v", ch)
	}
	checkEndpoint(t, clientPM, drv.want, "after restart")
	drv.d = d
	drv.cycles(cyclesAfterRestart)
	checkChanges(t, d, 0, drv.flips-flipsBeforeRestart, "after the restart")

	// Stop writing; each side half-closes and the other reads to the end.
	close(stop)
	deadline := time.Now().Add(10 * time.Second)
	for _, c := range []*net.TCPConn{cconn, sconn} {
		if err := c.SetDeadline(deadline); err != nil {
			t.Fatal(err)
		}
	}
	var bytes [2]int64
	intact := "intact"
	for i, dir := range []*direction{up, down} {
		sent, recv := <-dir.sent, <-dir.recv
		if sent.err != nil || recv.err != nil {
			intact = "NOT intact"
			t.Errorf("%s: send: %v; receive: %v", dir.name, sent.err, recv.err)
			continue
		}
		if sent.tally != recv.tally {
			intact = "NOT intact"
			t.Errorf("%s: sent %v, received %v", dir.name, sent.tally, recv.tally)
		}
		if sent.tally.Bytes == 0 {
			t.Errorf("%s: nothing was sent", dir.name)
		}
		bytes[i] = recv.tally.Bytes
	}

	// The witnesses, read before the sockets close (closing makes events).
	closes := map[string]int{}
	for name, r := range map[string]*recorder{"client": clientEvents, "server": serverEvents} {
		evs, err := r.snapshot()
		if err != nil {
			t.Errorf("%s event stream stopped early (lost events: %v): %v", name, errLost(err), err)
		}
		for _, ev := range evs {
			if ev.Type == pm.EventSubClosed || ev.Type == pm.EventClosed {
				closes[name]++
				t.Errorf("%s namespace: %v during the test: %+v", name, ev.Type, ev)
			}
		}
	}
	if n := clientEvents.count(pm.EventSubEstablished); n != 1 {
		t.Errorf("client saw %d SF_ESTABLISHED, want 1: the endpoint's subflow was made again", n)
	}
	if n := serverEvents.count(pm.EventRemoved); n != 0 {
		t.Errorf("server saw %d REMOVED (RM_ADDR): the endpoint was deleted", n)
	}
	prio := serverEvents.count(pm.EventSubPriority)
	if prio != drv.flips {
		t.Errorf("server saw %d SF_PRIO events for %d backup flips", prio, drv.flips)
	}

	report := fmt.Sprintf("live: %d reloads (%s; %d before the restart, %d after), 1 restart, %d backup flips, %d SF_PRIO at the peer, "+
		"SF_CLOSED/CLOSED client %d server %d, bytes client->server %d server->client %d, %s",
		drv.reloads, drv.byKindText(), reloadsBeforeRestart, drv.reloads-reloadsBeforeRestart, drv.flips, prio,
		closes["client"], closes["server"], bytes[0], bytes[1], intact)
	t.Log(report)
	fmt.Println(report)
}

// driver performs the reloads and checks each one was taken.
type driver struct {
	t      *testing.T
	cfg    configFile
	d      *daemon
	client *pm.Client
	server *recorder
	want   mptcp.Endpoint // the endpoint as the kernel must hold it now

	backup  bool
	reloads int
	flips   int
	byKind  [reloadKinds]int
}

// cycles runs n cycles of every reload kind.
func (drv *driver) cycles(n int) {
	drv.t.Helper()
	for range n {
		for k := range reloadKinds {
			drv.reload(k)
			drv.reloads++
			drv.byKind[k]++
			checkEndpoint(drv.t, drv.client, drv.want, fmt.Sprintf("after reload %d (%v)", drv.reloads, k))
		}
	}
}

func (drv *driver) reload(kind reloadKind) {
	t := drv.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := time.Now()
	switch kind {
	case identicalRewrite:
		drv.cfg.write(t, configText(drv.backup))
		drv.d.waitLoadedAfter(t, before, 5*time.Second)
	case sighup:
		drv.d.signal(t, syscall.SIGHUP)
		drv.d.waitLoadedAfter(t, before, 5*time.Second)
	case reloadCommand:
		out, err := drv.d.cli(ctx, "reload")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "no changes needed") {
			t.Errorf("mptcpd reload of an unchanged file: %q, want no changes", out)
		}
	case backupFlip:
		from := drv.server.len()
		drv.backup = !drv.backup
		drv.cfg.write(t, configText(drv.backup))
		var want uint8
		if drv.backup {
			want = 1
		}
		// The peer must see the flip: MP_PRIO on the endpoint's subflow.
		drv.server.waitFor(t, from, 5*time.Second,
			fmt.Sprintf("SF_PRIO backup=%d at the server for flip %d", want, drv.flips+1), func(ev pm.Event) bool {
				return ev.Type == pm.EventSubPriority && ev.Backup == want && ev.Daddr == endpointAddr
			})
		drv.flips++
		drv.want.Flags ^= mptcp.FlagBackup
	}
}

func (drv *driver) byKindText() string {
	parts := make([]string, reloadKinds)
	for k := range reloadKinds {
		parts[k] = fmt.Sprintf("%d %v", drv.byKind[k], k)
	}
	return strings.Join(parts, ", ")
}

// checkChanges requires the daemon's "changed" log lines after the first
// `skip` to be exactly one set_flags per backup flip: no delete, no add
// (the endpoint was never deleted and added again), nothing for a reload
// that changed nothing. The kernel answers before the daemon logs, so the
// last line may take a moment to appear.
func checkChanges(t *testing.T, d *daemon, skip, flips int, when string) {
	t.Helper()
	want := map[string]int{}
	if flips > 0 {
		want["set_flags"] = flips
	}
	var got map[string]int
	deadline := time.Now().Add(5 * time.Second)
	for {
		got = map[string]int{}
		for _, l := range d.changes(t)[skip:] {
			got[l.Action]++
		}
		if cmp.Equal(want, got) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes made %s, by action (-want +got):\n%s", when, diff)
	}
}

// checkEndpoint requires the client's endpoint table to hold exactly the
// one endpoint, with the same id, address, flags and device as before.
func checkEndpoint(t *testing.T, c *pm.Client, want mptcp.Endpoint, when string) {
	t.Helper()
	got, err := c.Endpoints()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]mptcp.Endpoint{want}, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Fatalf("client endpoints %s (-want +got):\n%s", when, diff)
	}
}

func dialPM(t *testing.T, ns string) *pm.Client {
	t.Helper()
	c, err := pm.Dial(pm.WithNetNS(nstest.Open(t, ns)))
	if err != nil {
		t.Fatalf("dial the path manager in %s: %v", ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ifIndex(t *testing.T, ns, name string) int32 {
	t.Helper()
	var idx int32
	err := nstest.Open(t, ns).Do(func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		idx = int32(ifi.Index)
		return nil
	})
	if err != nil {
		t.Fatalf("interface %s in %s: %v", name, ns, err)
	}
	return idx
}

// connect opens the MPTCP connection from the client's first address to
// the server's.
func connect(t *testing.T, top nstest.Topology) (client, server *net.TCPConn) {
	t.Helper()
	ln := nstest.ListenMPTCP(t, top.Server, net.JoinHostPort(nstest.ServerAddr1, serverPort))
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	cconn := nstest.DialMPTCP(t, top.Client, net.JoinHostPort(nstest.ServerAddr1, serverPort))
	sconn, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { sconn.Close() })
	return cconn.(*net.TCPConn), sconn.(*net.TCPConn)
}

package declarative

import (
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/pkg/sockdiag"
)

// planConfig, against populate's kernel on a host with 10.9.0.1, 10.9.1.1
// and 10.9.3.3, asks for every kind of step and one withheld endpoint.
const planConfig = `limits:
  subflows: 3
endpoints:
  - address: 10.9.0.1
    dev: v1
    id: 7
    flags: [subflow]
  - address: 10.9.1.1
    port: 20003
    flags: [signal]
  - address: 10.9.3.3
    dev: v1
    flags: [subflow]
  - address: 10.9.4.4
    flags: [subflow]
sysctl:
  checksum_enabled: 0
`

func TestPlanText(t *testing.T) {
	ns := hostNS(t, "10.9.0.1", "10.9.1.1", "10.9.3.3")
	populate(t, ns)
	path := writeConfig(t, "mptcpd.yaml", planConfig)
	before := kernelState(t, ns)

	r := mptcpd(t, "-n", ns, "plan", "-c", path)
	wantCode(t, r, 0, "plan")
	want := []string{
		"- delete 192.0.2.99 id 3 (not in the file) [closes 0 live subflows]",
		"-/+ replace 10.9.1.1 port 20002 id 12: port 20002 -> 20003 forces replacement [closes 0 live subflows]",
		"~ change 10.9.0.1 id 7: backup -> nobackup",
		"+ add 10.9.3.3 subflow dev v1",
		"limits: subflows 5 -> 3",
		"sysctl net.mptcp.checksum_enabled: 1 -> 0",
		"withheld 10.9.4.4 (entry 4): address not assigned: not on any link",
	}
	if diff := cmp.Diff(want, lines(r.stdout)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, kernelState(t, ns)); diff != "" {
		t.Errorf("plan changed the kernel (-before +after):\n%s", diff)
	}
}

// planJSON is the part of `plan -o json` the tests read.
type planJSON struct {
	Steps []struct {
		Kind string `json:"kind"`
		Text string `json:"text"`
		From *struct {
			Address string `json:"address"`
			ID      int    `json:"id"`
			Port    int    `json:"port"`
		} `json:"from"`
		To *struct {
			Address string `json:"address"`
			Port    int    `json:"port"`
		} `json:"to"`
		Disruptive bool `json:"disruptive"`
	} `json:"steps"`
	Withheld []struct {
		Entry   int    `json:"entry"`
		Address string `json:"address"`
	} `json:"withheld"`
	LiveSubflows map[string]int `json:"live_subflows"`
}

func planAsJSON(t *testing.T, args ...string) planJSON {
	t.Helper()
	r := mptcpd(t, append(args, "-o", "json")...)
	wantCode(t, r, 0, "plan -o json")
	var p planJSON
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("plan -o json is not JSON: %v\n%s", err, r.stdout)
	}
	return p
}

func TestPlanJSON(t *testing.T) {
	ns := hostNS(t, "10.9.0.1", "10.9.1.1", "10.9.3.3")
	populate(t, ns)
	path := writeConfig(t, "mptcpd.yaml", planConfig)
	before := kernelState(t, ns)
	p := planAsJSON(t, "-n", ns, "plan", "-c", path)

	// kind, from and to of each step, in the text's order.
	type step struct {
		Kind, From, To string
		Disruptive     bool
	}
	var got []step
	for _, s := range p.Steps {
		var st step
		st.Kind, st.Disruptive = s.Kind, s.Disruptive
		if s.From != nil {
			st.From = netip.AddrPortFrom(netip.MustParseAddr(s.From.Address), uint16(s.From.Port)).String()
		}
		if s.To != nil {
			st.To = netip.AddrPortFrom(netip.MustParseAddr(s.To.Address), uint16(s.To.Port)).String()
		}
		got = append(got, st)
	}
	want := []step{
		{Kind: "delete", From: "192.0.2.99:0", Disruptive: true},
		{Kind: "replace", From: "10.9.1.1:20002", To: "10.9.1.1:20003", Disruptive: true},
		{Kind: "set_flags", From: "10.9.0.1:0", To: "10.9.0.1:0"},
		{Kind: "add", To: "10.9.3.3:0"},
		{Kind: "set_limits"},
		{Kind: "set_sysctl"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if len(p.Withheld) != 1 || p.Withheld[0].Address != "10.9.4.4" || p.Withheld[0].Entry != 4 {
		t.Errorf("withheld = %+v, want entry 4, 10.9.4.4", p.Withheld)
	}
	if diff := cmp.Diff(map[string]int{"192.0.2.99": 0, "10.9.1.1": 0}, p.LiveSubflows); diff != "" {
		t.Errorf("live_subflows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, kernelState(t, ns)); diff != "" {
		t.Errorf("plan -o json changed the kernel (-before +after):\n%s", diff)
	}
}

func TestPlanDetailedExitcode(t *testing.T) {
	ns := hostNS(t, "10.9.0.1", "10.9.1.1", "10.9.3.3")
	populate(t, ns)
	path := writeConfig(t, "mptcpd.yaml", planConfig)
	dir, _ := badFiles(t)
	bad := dir + "/flag-unknown.yaml"

	tests := []struct {
		name string
		args []string
		want int
	}{
		{"changes pending", []string{"plan", "-c", path, "--detailed-exitcode"}, 2},
		{"changes pending, json", []string{"plan", "--detailed-exitcode", "-o", "json", "-c", path}, 2},
		{"bad file", []string{"plan", "-c", bad, "--detailed-exitcode"}, 1},
		{"missing file", []string{"plan", "-c", dir + "/no-such-file.yaml", "--detailed-exitcode"}, 1},
		{"unknown flag after", []string{"plan", "--detailed-exitcode", "-x"}, 1},
		{"unknown flag before", []string{"plan", "-x", "--detailed-exitcode"}, 1},
		{"unknown flag before, one dash", []string{"plan", "-x", "-detailed-exitcode=true"}, 1},
		{"unknown flag before, turned off", []string{"plan", "-x", "-detailed-exitcode=false"}, 2},
		{"argument", []string{"plan", "--detailed-exitcode", "-c", path, "extra"}, 1},
		{"bad format", []string{"plan", "--detailed-exitcode", "-o", "yaml", "-c", path}, 1},
		{"bad file without the option", []string{"plan", "-c", bad}, 1},
		{"usage error without the option", []string{"plan", "-x"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mptcpd(t, append([]string{"-n", ns}, tt.args...)...)
			wantCode(t, r, tt.want, "plan")
		})
	}

	t.Run("nothing to do", func(t *testing.T) {
		wantCode(t, mptcpd(t, "-n", ns, "apply", "-c", path), 0, "apply")
		r := mptcpd(t, "-n", ns, "plan", "-c", path, "--detailed-exitcode")
		wantCode(t, r, 0, "plan of a converged kernel")
		want := []string{"withheld 10.9.4.4 (entry 4): address not assigned: not on any link", "no changes"}
		if diff := cmp.Diff(want, lines(r.stdout)); diff != "" {
			t.Errorf("plan (-want +got):\n%s", diff)
		}
	})
}

// liveConnection makes a client namespace with two addresses on one link
// and an MPTCP connection from the first to a server, with an endpoint
// (id 5) for the second address so that a second subflow leaves from it.
// It returns the client namespace once that subflow is up.
func liveConnection(t *testing.T) (client string) {
	t.Helper()
	server, client := nstest.NewNS(t), nstest.NewNS(t)
	nstest.Veth(t, server, "srv0", client, "cli0")
	nstest.IP(t, "-n", server, "addr", "add", "10.0.0.1/24", "dev", "srv0")
	nstest.IP(t, "-n", client, "addr", "add", "10.0.0.2/24", "dev", "cli0")
	nstest.IP(t, "-n", client, "addr", "add", "10.0.0.3/24", "dev", "cli0")
	for _, ns := range []string{server, client} {
		nstest.IP(t, "-n", ns, "mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2")
	}
	nstest.IP(t, "-n", client, "mptcp", "endpoint", "add", "10.0.0.3", "dev", "cli0", "id", "5", "subflow")

	ln := nstest.ListenMPTCP(t, server, "10.0.0.1:9000")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	var conn net.Conn
	err := nstest.Open(t, client).Do(func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("10.0.0.2")}, Timeout: 5 * time.Second}
		d.SetMultipathTCP(true)
		var err error
		conn, err = d.Dial("tcp", "10.0.0.1:9000")
		return err
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	// A round trip makes the connection fully established, after which
	// the path manager opens the extra subflow.
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(conn, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	clientNS := nstest.Open(t, client)
	second := netip.MustParseAddr("10.0.0.3")
	nstest.Eventually(t, 10*time.Second, func() bool {
		counts, err := sockdiag.CountSubflows(clientNS)
		return err == nil && counts[second] == 1
	}, "a live subflow from 10.0.0.3")
	return client
}

func TestPlanCountsLiveSubflows(t *testing.T) {
	client := liveConnection(t)
	tests := []struct {
		name     string
		config   string
		wantText []string
		wantKind string
	}{
		{
			name:     "delete",
			config:   "endpoints: []\n",
			wantText: []string{"- delete 10.0.0.3 id 5 (not in the file) [closes 1 live subflow]"},
			wantKind: "delete",
		},
		{
			name:     "replace",
			config:   "endpoints:\n  - address: 10.0.0.3\n    dev: cli0\n    id: 5\n    port: 20000\n    flags: [signal]\n",
			wantText: []string{"-/+ replace 10.0.0.3 id 5: port 0 -> 20000, nosignal -> signal, subflow -> nosubflow forces replacement [closes 1 live subflow]"},
			wantKind: "replace",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, "mptcpd.yaml", tt.config)
			before := kernelState(t, client)
			r := mptcpd(t, "-n", client, "plan", "-c", path)
			wantCode(t, r, 0, "plan")
			if diff := cmp.Diff(tt.wantText, lines(r.stdout)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			p := planAsJSON(t, "-n", client, "plan", "-c", path)
			if len(p.Steps) != 1 || p.Steps[0].Kind != tt.wantKind || !p.Steps[0].Disruptive {
				t.Errorf("steps = %+v, want one disruptive %s", p.Steps, tt.wantKind)
			}
			if diff := cmp.Diff(map[string]int{"10.0.0.3": 1}, p.LiveSubflows); diff != "" {
				t.Errorf("live_subflows (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, kernelState(t, client)); diff != "" {
				t.Errorf("plan changed the kernel (-before +after):\n%s", diff)
			}
		})
	}
}

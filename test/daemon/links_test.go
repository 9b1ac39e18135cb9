package daemon

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mptcpd/mptcpd/internal/control"
	"github.com/mptcpd/mptcpd/internal/nstest"
)

// linksConfig has a fixed address on eth2 and an interface entry for eth3.
const linksConfig = `endpoints:
  - address: 10.2.0.1
    dev: eth2
    id: 20
    flags: [subflow, backup]
  - interface: eth3
    family: ipv4
    flags: [signal]
`

func newLinksHost(t *testing.T) *host {
	t.Helper()
	h := newHost(t)
	h.link("eth2", "10.2.0.1/24")
	h.link("eth3", "10.3.0.1/24")
	h.writeConfig(linksConfig)
	return h
}

// withheld returns the status of the desired endpoints that are not
// installed, as "ADDRESS DEV: REASON" (ADDRESS is "" for a whole interface).
func withheld(st control.Status) []string {
	var out []string
	for _, e := range st.Endpoints {
		if e.State == control.Withheld {
			addr := ""
			if e.Address.IsValid() {
				addr = e.Address.String()
			}
			out = append(out, fmt.Sprintf("%s %s: %s", addr, e.Dev, e.Reason))
		}
	}
	return out
}

func TestLinkDownUp(t *testing.T) {
	t.Parallel()
	h := newLinksHost(t)
	p := h.start()
	all := []string{"10.2.0.1 subflow backup dev eth2", "10.3.0.1 signal dev eth3"}
	h.waitEndpoints(all...)

	// A flapping link, several times in a row: each time down withdraws
	// the endpoint and up installs it again, with the id of the file.
	for range 4 {
		h.ip("link", "set", "eth2", "down")
		h.waitEndpoints("10.3.0.1 signal dev eth3")
		waitFor(t, "status to say 10.2.0.1 is withheld for its link", func() string {
			got := strings.Join(withheld(h.status()), "\n")
			if !strings.Contains(got, "10.2.0.1 eth2: link down") {
				return got
			}
			return ""
		})
		h.ip("link", "set", "eth2", "up")
		h.waitEndpoints(all...)
		if got := h.idOf("10.2.0.1"); got != 20 {
			t.Fatalf("10.2.0.1 came back with id %d, want 20", got)
		}
	}
	if p.hasExited() {
		t.Fatalf("mptcpd exited:\n%s", p.out)
	}
}

func TestAddressAddDel(t *testing.T) {
	t.Parallel()
	h := newLinksHost(t)
	h.start()
	h.waitEndpoints("10.2.0.1 subflow backup dev eth2", "10.3.0.1 signal dev eth3")

	h.ip("addr", "add", "10.3.1.2/24", "dev", "eth3")
	h.waitEndpoints("10.2.0.1 subflow backup dev eth2", "10.3.0.1 signal dev eth3", "10.3.1.2 signal dev eth3")
	h.ip("addr", "del", "10.3.0.1/24", "dev", "eth3")
	h.waitEndpoints("10.2.0.1 subflow backup dev eth2", "10.3.1.2 signal dev eth3")
	// The fixed address, deleted from its link, is withdrawn too.
	h.ip("addr", "del", "10.2.0.1/24", "dev", "eth2")
	h.waitEndpoints("10.3.1.2 signal dev eth3")
	h.ip("addr", "add", "10.2.0.1/24", "dev", "eth2")
	h.waitEndpoints("10.2.0.1 subflow backup dev eth2", "10.3.1.2 signal dev eth3")
}

func TestInterfaceRecreated(t *testing.T) {
	t.Parallel()
	h := newLinksHost(t)
	h.start()
	h.waitEndpoints("10.2.0.1 subflow backup dev eth2", "10.3.0.1 signal dev eth3")
	old2, old3 := h.ifIndex("eth2"), h.ifIndex("eth3")

	// Both links deleted (with their veth peers) and made again: new
	// ifindexes, same names.
	h.ip("link", "del", "eth2")
	h.ip("link", "del", "eth3")
	h.waitEndpoints()
	h.link("eth2", "10.2.0.1/24")
	h.link("eth3", "10.3.0.1/24")
	new2, new3 := h.ifIndex("eth2"), h.ifIndex("eth3")
	if new2 == old2 || new3 == old3 {
		t.Fatalf("the kernel reused an ifindex (eth2 %d -> %d, eth3 %d -> %d); the test needs new ones", old2, new2, old3, new3)
	}
	h.waitEndpoints("10.2.0.1 subflow backup dev eth2", "10.3.0.1 signal dev eth3")
	want := map[string]int32{"10.2.0.1": new2, "10.3.0.1": new3}
	got := h.pmEndpoints()
	for addr, index := range want {
		if got[addr] != index {
			t.Errorf("%s is bound to ifindex %d, want the new eth link's %d", addr, got[addr], index)
		}
	}
	if got := h.idOf("10.2.0.1"); got != 20 {
		t.Errorf("10.2.0.1 has id %d, want 20", got)
	}
}

// TestTentativeIPv6 gives the daemon's link an IPv6 address whose DAD
// cannot run (the veth peer, in another namespace, is down), then lets DAD
// run slowly: the endpoint may appear only once the address is no longer
// tentative.
func TestTentativeIPv6(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	peer := nstest.NewNS(t)
	nstest.Veth(t, h.ns, "w0", peer, "w0p")
	nstest.IP(t, "-n", peer, "link", "set", "w0p", "down")
	// Slow DAD down so that there is time to look while it runs.
	err := nstest.Open(t, h.ns).Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv6/neigh/w0/retrans_time_ms", []byte("1500"), 0o644)
	})
	if err != nil {
		t.Fatalf("slow down DAD on w0: %v", err)
	}
	h.ip("addr", "add", "2001:db8:1::1/64", "dev", "w0")
	h.writeConfig(`endpoints:
  - interface: w0
    family: ipv6
    flags: [subflow]
`)
	h.start()
	h.waitRuns(3)
	if !h.tentative("w0", "2001:db8:1::1") {
		t.Fatalf("2001:db8:1::1 is not tentative; the test's premise is wrong:\n%s", h.ip("addr", "show", "dev", "w0"))
	}
	if got := h.described(); len(got) != 0 {
		t.Fatalf("endpoints installed for a tentative address: %q", got)
	}

	// With carrier DAD starts; while it runs, the address is tentative on
	// a usable link, and the status must say why it is withheld.
	nstest.IP(t, "-n", peer, "link", "set", "w0p", "up")
	waitFor(t, "status to withhold 2001:db8:1::1 as tentative", func() string {
		got := strings.Join(withheld(h.status()), "\n")
		if !strings.Contains(got, "2001:db8:1::1 w0: address tentative") {
			return got
		}
		return ""
	})
	deadline := time.Now().Add(waitBound)
	for h.tentative("w0", "2001:db8:1::1") {
		if time.Now().After(deadline) {
			t.Fatalf("DAD of 2001:db8:1::1 did not end within %v", waitBound)
		}
		eps := h.described()
		if len(eps) != 0 && h.tentative("w0", "2001:db8:1::1") {
			t.Fatalf("endpoint installed while its address is tentative: %q", eps)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.waitEndpoints("2001:db8:1::1 subflow dev w0")
}

// tentative reports whether addr on dev is tentative (DAD not done).
func (h *host) tentative(dev, addr string) bool {
	h.t.Helper()
	for _, line := range strings.Split(h.ip("-6", "addr", "show", "dev", dev), "\n") {
		if strings.Contains(line, " "+addr+"/") {
			return strings.Contains(line, "tentative")
		}
	}
	h.t.Fatalf("%s is not on %s", addr, dev)
	return false
}

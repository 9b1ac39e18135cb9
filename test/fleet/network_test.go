package fleet

import (
	"testing"

	"github.com/mptcpd/mptcpd/internal/nstest"
)

// A namespace with two links (the ends of one veth pair), each with an
// address, for the configurations below.
const (
	link0, addr0 = "fleet0", "192.0.2.1"
	link1, addr1 = "fleet1", "198.51.100.1"
)

// newFleetNS makes the namespace the Ansible and Puppet tests configure.
func newFleetNS(t *testing.T) string {
	t.Helper()
	ns := nstest.NewNS(t)
	nstest.Veth(t, ns, link0, ns, link1)
	nstest.IP(t, "-n", ns, "addr", "add", addr0+"/24", "dev", link0)
	nstest.IP(t, "-n", ns, "addr", "add", addr1+"/24", "dev", link1)
	return ns
}

// The settings the Ansible variables and Puppet parameters describe, and
// the kernel state (as ip mptcp prints it) they must lead to.
var (
	wantLimits    = map[string]any{"subflows": 3, "add_addr_accepted": 2}
	wantEndpoints = []map[string]any{
		{"address": addr0, "dev": link0, "id": 10, "flags": []string{"subflow", "backup"}},
		{"address": addr1, "dev": link1, "id": 11, "flags": []string{"signal"}},
	}
	wantKernel = kernelState{
		Endpoints: []string{
			"192.0.2.1 id 10 subflow backup dev fleet0",
			"198.51.100.1 id 11 signal dev fleet1",
		},
		Limits: "add_addr_accepted 2 subflows 3",
	}
)

// initialConfig is the file in place before the fleet tool first runs: it
// manages nothing, so the daemon can start on it and change nothing.
const initialConfig = "# Nothing is managed until the fleet tool writes this file.\n"

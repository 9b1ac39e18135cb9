package declarative

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/internal/nstest"
)

// configureByHand sets up ns as a person would with ip and sysctl:
// endpoints with and without dev, chosen ids, a port, every mutable flag;
// limits; a sysctl away from its default.
func configureByHand(t *testing.T, ns string) {
	t.Helper()
	nstest.IP(t, "-n", ns, "mptcp", "endpoint", "add", "10.9.0.1", "dev", "v1", "id", "7", "subflow", "backup")
	nstest.IP(t, "-n", ns, "mptcp", "endpoint", "add", "10.9.1.1", "id", "12", "port", "20002", "signal")
	nstest.IP(t, "-n", ns, "mptcp", "endpoint", "add", "10.9.2.1", "id", "3", "subflow", "fullmesh")
	nstest.IP(t, "-n", ns, "mptcp", "endpoint", "add", "10.9.3.1", "dev", "v1", "signal", "backup")
	// IPv6, without duplicate address detection so that the address is
	// usable at once rather than tentative.
	nstest.IP(t, "-n", ns, "addr", "add", "2001:db8:9::1/64", "dev", "v1", "nodad")
	nstest.IP(t, "-n", ns, "mptcp", "endpoint", "add", "2001:db8:9::1", "dev", "v1", "id", "30", "subflow")
	nstest.IP(t, "-n", ns, "mptcp", "limits", "set", "subflows", "5", "add_addr_accepted", "3")
	sysctlSet(t, ns, "checksum_enabled", "1")
	sysctlSet(t, ns, "stale_loss_cnt", "6")
}

func TestShowRoundTrip(t *testing.T) {
	ns := hostNS(t, "10.9.0.1", "10.9.1.1", "10.9.2.1", "10.9.3.1")
	configureByHand(t, ns)
	before := kernelState(t, ns)

	r := mptcpd(t, "-n", ns, "show")
	wantCode(t, r, 0, "show")
	path := writeConfig(t, "mptcpd.yaml", r.stdout)

	if r.stderr != "" {
		t.Errorf("show on a host whose endpoints are all usable warned:\n%s", r.stderr)
	}
	wantCode(t, mptcpd(t, "check", "-c", path), 0, "check of show's output")
	p := mptcpd(t, "-n", ns, "plan", "-c", path, "--detailed-exitcode")
	wantCode(t, p, 0, "plan of show's output")
	if p.stdout != "no changes\n" {
		t.Errorf("plan of show's output printed %q, want no changes; the file was:\n%s", p.stdout, r.stdout)
	}
	a := mptcpd(t, "-n", ns, "apply", "-c", path)
	wantCode(t, a, 0, "apply of show's output")
	if a.stdout != "no changes\n" {
		t.Errorf("apply of show's output printed %q, want no changes", a.stdout)
	}
	if diff := cmp.Diff(before, kernelState(t, ns)); diff != "" {
		t.Errorf("show, plan and apply of its output changed the kernel (-before +after):\n%s", diff)
	}

	t.Run("json", func(t *testing.T) {
		r := mptcpd(t, "-n", ns, "show", "-o", "json")
		wantCode(t, r, 0, "show -o json")
		var got struct {
			Limits    map[string]int `json:"limits"`
			Endpoints []struct {
				Address string   `json:"address"`
				Dev     string   `json:"dev"`
				ID      int      `json:"id"`
				Port    int      `json:"port"`
				Flags   []string `json:"flags"`
			} `json:"endpoints"`
			Sysctl    map[string]any `json:"sysctl"`
			Ownership string         `json:"ownership"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("show -o json is not JSON: %v\n%s", err, r.stdout)
		}
		if diff := cmp.Diff(map[string]int{"subflows": 5, "add_addr_accepted": 3}, got.Limits); diff != "" {
			t.Errorf("limits (-want +got):\n%s", diff)
		}
		type endpoint struct {
			Address, Dev string
			ID, Port     int
			Flags        []string
		}
		var eps []endpoint
		for _, e := range got.Endpoints {
			eps = append(eps, endpoint{e.Address, e.Dev, e.ID, e.Port, e.Flags})
		}
		// The kernel lists endpoints by id; show keeps that order.
		want := []endpoint{
			{"10.9.2.1", "", 3, 0, []string{"subflow", "fullmesh"}},
			{"10.9.0.1", "v1", 7, 0, []string{"subflow", "backup"}},
			{"10.9.1.1", "", 12, 20002, []string{"signal"}},
			{"10.9.3.1", "v1", 13, 0, []string{"signal", "backup"}},
			{"2001:db8:9::1", "v1", 30, 0, []string{"subflow"}},
		}
		if diff := cmp.Diff(want, eps); diff != "" {
			t.Errorf("endpoints (-want +got):\n%s", diff)
		}
		for name, want := range map[string]float64{"checksum_enabled": 1, "stale_loss_cnt": 6} {
			if got.Sysctl[name] != want {
				t.Errorf("sysctl %s = %v, want %v", name, got.Sysctl[name], want)
			}
		}
		if got.Ownership != "exclusive" {
			t.Errorf("ownership = %q, want exclusive", got.Ownership)
		}
	})
}

// TestNetnsPath gives -n a path under /run/netns instead of the name: every
// command must act on the same namespace.
func TestNetnsPath(t *testing.T) {
	ns := hostNS(t, "10.9.0.1", "10.9.1.1", "10.9.2.1", "10.9.3.1")
	configureByHand(t, ns)
	byPath := filepath.Join("/run/netns", ns)

	byName := mptcpd(t, "-n", ns, "show")
	wantCode(t, byName, 0, "show by name")
	got := mptcpd(t, "-n", byPath, "show")
	wantCode(t, got, 0, "show by path")
	if diff := cmp.Diff(byName.stdout, got.stdout); diff != "" {
		t.Errorf("show by path differs from show by name (-name +path):\n%s", diff)
	}

	path := writeConfig(t, "mptcpd.yaml", "limits:\n  subflows: 1\n")
	r := mptcpd(t, "-n", byPath, "plan", "-c", path)
	wantCode(t, r, 0, "plan by path")
	if diff := cmp.Diff([]string{"limits: subflows 5 -> 1"}, lines(r.stdout)); diff != "" {
		t.Errorf("plan by path (-want +got):\n%s", diff)
	}
	wantCode(t, mptcpd(t, "-n", byPath, "apply", "-c", path), 0, "apply by path")
	if diff := cmp.Diff("add_addr_accepted 3 subflows 1 \n", nstest.IP(t, "-n", ns, "mptcp", "limits", "show")); diff != "" {
		t.Errorf("limits after apply by path (-want +got):\n%s", diff)
	}
}

// TestShowWarnsAboutUnusableEndpoints: an endpoint whose address is not
// assigned here would be withdrawn by the file show prints; show says so on
// stderr, and plan of that file indeed deletes it.
func TestShowWarnsAboutUnusableEndpoints(t *testing.T) {
	ns := hostNS(t, "10.9.0.1")
	nstest.IP(t, "-n", ns, "mptcp", "endpoint", "add", "10.9.0.1", "id", "1", "subflow")
	nstest.IP(t, "-n", ns, "mptcp", "endpoint", "add", "203.0.113.77", "id", "2", "subflow")

	r := mptcpd(t, "-n", ns, "show")
	wantCode(t, r, 0, "show")
	want := "Warning: a plan of this file would still change the kernel: - delete 203.0.113.77 id 2 (address not assigned)\n"
	if r.stderr != want {
		t.Errorf("show's stderr:\n%q\nwant\n%q", r.stderr, want)
	}
	path := writeConfig(t, "mptcpd.yaml", r.stdout)
	p := mptcpd(t, "-n", ns, "plan", "-c", path)
	wantCode(t, p, 0, "plan of show's output")
	if !strings.Contains(p.stdout, "- delete 203.0.113.77 id 2 (address not assigned)") {
		t.Errorf("plan of show's output:\n%s\nwant the delete show warned about", p.stdout)
	}
}

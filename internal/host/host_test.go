package host

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/pkg/config"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/reconcile"
)

// newHost makes a namespace with one link (veth, up with carrier) holding
// 192.0.2.1 and returns a Host on it.
func newHost(t *testing.T) (*Host, string) {
	t.Helper()
	ns := nstest.NewNS(t)
	nstest.IP(t, "-n", ns, "link", "add", "h0", "type", "veth", "peer", "name", "h0p")
	nstest.IP(t, "-n", ns, "link", "set", "h0p", "up")
	nstest.IP(t, "-n", ns, "link", "set", "h0", "up")
	nstest.IP(t, "-n", ns, "addr", "add", "192.0.2.1/24", "dev", "h0")
	h, err := Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, ns
}

func parse(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestConvergeThenNothing(t *testing.T) {
	h, ns := newHost(t)
	store := OwnedStore(t.TempDir())
	cfg := parse(t, "limits: {subflows: 3}\nendpoints:\n  - {address: 192.0.2.1, dev: h0, id: 7, flags: [subflow]}\nsysctl: {add_addr_timeout: 60}\n")

	out, err := h.Converge(cfg, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Converged() || len(out.Plan.Steps) != 3 || len(out.Result.Done) != 3 {
		t.Fatalf("first pass: converged %v, plan %v, done %v", out.Converged(), out.Plan, out.Result.Done)
	}
	if got := nstest.IP(t, "-n", ns, "mptcp", "endpoint", "show"); got != "192.0.2.1 id 7 subflow dev h0 \n" {
		t.Errorf("endpoints after apply: %q", got)
	}
	if got, _ := nstest.Exec(ns, "sysctl", "-n", "net.mptcp.add_addr_timeout"); got != "60\n" {
		t.Errorf("add_addr_timeout = %q, want 60", got)
	}
	// Exclusive ownership keeps no memory file.
	if _, err := os.Stat(store.Path); !os.IsNotExist(err) {
		t.Errorf("owned store written under exclusive ownership: %v", err)
	}

	out, err = h.Converge(cfg, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Plan.Empty() || len(out.Result.Done) != 0 {
		t.Errorf("second pass planned %v and did %v, want nothing", out.Plan, out.Result.Done)
	}
}

func TestConvergeSharedRemembers(t *testing.T) {
	h, ns := newHost(t)
	dir := t.TempDir()
	store := OwnedStore(filepath.Join(dir, "state"))
	// Someone else's endpoint, which shared ownership must leave alone.
	nstest.IP(t, "-n", ns, "mptcp", "endpoint", "add", "198.51.100.9", "id", "3", "signal")
	cfg := parse(t, "ownership: shared\nendpoints:\n  - {address: 192.0.2.1, id: 5, flags: [subflow]}\n")
	if _, err := h.Converge(cfg, store, nil); err != nil {
		t.Fatal(err)
	}
	owned, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := reconcile.OwnedSet{{Addr: mustAddr(t, "192.0.2.1")}: {}}
	if len(owned) != 1 || !owned.Has(reconcile.Key{Addr: mustAddr(t, "192.0.2.1")}) {
		t.Errorf("owned = %v, want %v", owned.Keys(), want.Keys())
	}
	if got := nstest.IP(t, "-n", ns, "mptcp", "endpoint", "show"); got != "198.51.100.9 id 3 signal \n192.0.2.1 id 5 subflow \n" {
		t.Errorf("endpoints: %q", got)
	}
}

func TestHoldDropsSteps(t *testing.T) {
	h, ns := newHost(t)
	cfg := parse(t, "endpoints:\n  - {address: 192.0.2.1, id: 7, flags: [subflow]}\n")
	out, err := h.Converge(cfg, OwnedStore(t.TempDir()), func(reconcile.Plan) reconcile.Plan { return reconcile.Plan{} })
	if err != nil {
		t.Fatal(err)
	}
	if out.Converged() || len(out.Result.Done) != 0 {
		t.Errorf("with every step held: converged %v, done %v", out.Converged(), out.Result.Done)
	}
	if got := nstest.IP(t, "-n", ns, "mptcp", "endpoint", "show"); got != "" {
		t.Errorf("held plan changed the kernel: %q", got)
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestStateDir(t *testing.T) {
	var own unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &own); err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"":                  "/run/mptcpd",
		"blue":              "/run/mptcpd/netns/blue",
		"/run/netns/blue":   "/run/mptcpd/netns/blue",
		"/run/netns/blue/":  "/run/mptcpd/netns/blue",
		"/proc/self/ns/net": fmt.Sprintf("/run/mptcpd/netns/ino-%d", own.Ino),
	}
	for in, want := range tests {
		if got := StateDir(in); got != want {
			t.Errorf("StateDir(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConvergeGoesOnPastAMissingSysctl: a sysctl this kernel lacks fails
// alone; the endpoints are still managed.
func TestConvergeGoesOnPastAMissingSysctl(t *testing.T) {
	h, ns := newHost(t)
	cfg := parse(t, "endpoints:\n  - {address: 192.0.2.1, id: 7, flags: [subflow]}\n")
	// No file can name it (the loader knows the kernel's names), so build
	// it by hand, as for an older kernel that lacks one the loader knows.
	cfg.Sysctls = []config.Sysctl{{Name: "no_such_sysctl", Value: "1"}}
	_, err := h.Converge(cfg, OwnedStore(t.TempDir()), nil)
	if err == nil || !strings.Contains(err.Error(), "no_such_sysctl") {
		t.Errorf("Converge = %v, want an error about no_such_sysctl", err)
	}
	if got := nstest.IP(t, "-n", ns, "mptcp", "endpoint", "show"); got != "192.0.2.1 id 7 subflow \n" {
		t.Errorf("endpoints: %q, want the file's endpoint despite the sysctl", got)
	}
}

// TestConvergeWithDamagedMemory: a corrupt owned.json does not stop an
// exclusive config from being applied.
func TestConvergeWithDamagedMemory(t *testing.T) {
	h, ns := newHost(t)
	dir := t.TempDir()
	store := OwnedStore(dir)
	if err := os.WriteFile(store.Path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := parse(t, "endpoints:\n  - {address: 192.0.2.1, id: 7, flags: [subflow]}\n")
	if _, err := h.Converge(cfg, store, nil); err != nil {
		t.Errorf("Converge with a damaged memory, exclusive ownership: %v", err)
	}
	if got := nstest.IP(t, "-n", ns, "mptcp", "endpoint", "show"); got != "192.0.2.1 id 7 subflow \n" {
		t.Errorf("endpoints: %q", got)
	}
}

// TestLearnDroppedFlags: a flag the kernel dropped on add is reported once
// and left out of later plans, so the endpoint is not replaced every run.
func TestLearnDroppedFlags(t *testing.T) {
	h := &Host{}
	ep := mptcp.Endpoint{ID: 3, Addr: mustAddr(t, "192.0.2.1"), Flags: mptcp.FlagSubflow | mptcp.FlagLaminar}
	plan := reconcile.Plan{Steps: []reconcile.Step{{Kind: reconcile.Add, To: ep}}}
	stored := ep
	stored.Flags = mptcp.FlagSubflow // as a kernel before 6.18 keeps it
	res := reconcile.Result{Done: []reconcile.Done{{Step: 0, Op: reconcile.OpAdd, Endpoint: stored}}}
	err := h.learnDroppedFlags(plan, res)
	if err == nil || !strings.Contains(err.Error(), "laminar") || h.unsupported != mptcp.FlagLaminar {
		t.Fatalf("learnDroppedFlags = %v, unsupported %v; want laminar reported and learned", err, h.unsupported)
	}
	if err := h.learnDroppedFlags(plan, res); err != nil {
		t.Errorf("the same drop reported again: %v", err)
	}
	// A kernel that keeps every flag asked for teaches nothing.
	h2 := &Host{}
	res.Done[0].Endpoint = ep
	if err := h2.learnDroppedFlags(plan, res); err != nil || h2.unsupported != 0 {
		t.Errorf("nothing dropped: %v, unsupported %v", err, h2.unsupported)
	}
}

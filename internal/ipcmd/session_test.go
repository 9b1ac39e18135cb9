package ipcmd

import (
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/internal/testbin"
	"github.com/mptcpd/mptcpd/pkg/netns"
)

// newSession returns a Session on a fresh namespace with a veth pair
// (eth1, eth2) in it.
func newSession(t *testing.T) (*Session, string) {
	t.Helper()
	name := nstest.NewNS(t)
	nstest.IP(t, "-n", name, "link", "add", "eth1", "type", "veth", "peer", "name", "eth2")
	nstest.IP(t, "-n", name, "link", "property", "add", "dev", "eth1", "altname", "uplink0")
	ns, err := netns.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSession(ns)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		ns.Close()
	})
	return s, name
}

func TestSessionDialsOnce(t *testing.T) {
	s, _ := newSession(t)
	first, err := s.PathManager()
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.PathManager()
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Error("PathManager dialed a second client; a session must reuse one")
	}
}

func TestSessionLinks(t *testing.T) {
	s, name := newSession(t)
	links, err := s.Links()
	if err != nil {
		t.Fatal(err)
	}
	eth1 := ifIndex(t, name, "eth1")
	type lookup struct {
		Index uint32
		OK    bool
	}
	for _, tt := range []struct {
		name string
		want lookup
	}{
		{"eth1", lookup{eth1, true}},
		{"uplink0", lookup{eth1, true}}, // an alternative name
		{"lo", lookup{1, true}},
		{"if77", lookup{77, true}}, // iproute2's name for an index without a device
		{"nosuch", lookup{0, false}},
	} {
		idx, ok, err := links.IndexByName(tt.name)
		if err != nil {
			t.Fatalf("IndexByName(%q): %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, lookup{idx, ok}); diff != "" {
			t.Errorf("IndexByName(%q) (-want +got):\n%s", tt.name, diff)
		}
	}
	for _, tt := range []struct {
		index uint32
		want  string
	}{{eth1, "eth1"}, {1, "lo"}, {77, "if77"}} {
		got, err := links.NameByIndex(tt.index)
		if err != nil {
			t.Fatalf("NameByIndex(%d): %v", tt.index, err)
		}
		if got != tt.want {
			t.Errorf("NameByIndex(%d) = %q, want %q", tt.index, got, tt.want)
		}
	}
}

// TestSessionRun runs commands against the real kernel and compares what
// show prints with what ip prints for the same namespace.
func TestSessionRun(t *testing.T) {
	s, name := newSession(t)
	var out strings.Builder
	env := Env{Stdout: &out, Stderr: &out, Kernel: s}
	for _, cmd := range []string{
		"endpoint add 192.0.2.1 dev eth1 id 3 subflow backup",
		"endpoint add 192.0.2.2 dev uplink0 subflow fullmesh",
		"endpoint add 2001:db8::1 id 9 signal",
		"endpoint change id 3 fullmesh",
		"limits set subflows 4 add_addr_accepted 2",
	} {
		if err := Run(context.Background(), env, strings.Fields(cmd)); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	for _, cmd := range []string{"endpoint show", "endpoint show id 9", "limits show"} {
		out.Reset()
		if err := Run(context.Background(), env, strings.Fields(cmd)); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		want := nstest.IP(t, append([]string{"-n", name, "mptcp"}, strings.Fields(cmd)...)...)
		if diff := cmp.Diff(want, out.String()); diff != "" {
			t.Errorf("%s: mptcpd and ip differ (-ip +mptcpd):\n%s", cmd, diff)
		}
	}
}

func ifIndex(t *testing.T, ns, dev string) uint32 {
	t.Helper()
	out := nstest.IP(t, "-n", ns, "-o", "link", "show", "dev", dev)
	idx, ok := parseUint(strings.SplitN(out, ":", 2)[0], 1<<32-1)
	if !ok {
		t.Fatalf("no index in %q", out)
	}
	return uint32(idx)
}

// TestSessionMonitor runs monitor against the kernel: an MPTCP listener
// opened in the namespace must print a LISTENER_CREATED line, and the end
// of the context must end monitor without an error.
func TestSessionMonitor(t *testing.T) {
	s, name := newSession(t)
	ns, err := netns.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	var out testbin.Buffer
	env := Env{Stdout: &out, Stderr: &out, Kernel: s}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, env, []string{"monitor"}) }()

	// Events sent before monitor has subscribed are lost, so open
	// listeners until one is seen.
	want := regexp.MustCompile(`(?m)^\[LISTENER_CREATED\] saddr4=127\.0\.0\.1 sport=\d+$`)
	deadline := time.Now().Add(10 * time.Second)
	for !want.MatchString(out.String()) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no LISTENER_CREATED line; monitor printed %q", out.String())
		}
		if err := ns.Do(func() error {
			var lc net.ListenConfig
			lc.SetMultipathTCP(true)
			l, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
			if err != nil {
				return err
			}
			return l.Close()
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("monitor ended with %v, want nil at the end of its context", err)
	}
	t.Logf("monitor printed:\n%s", out.String())
}

package netstate

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/pkg/netns"
)

// eventWait bounds how long a test waits for an event the kernel should
// send at once; it only matters when the code under test is broken.
const eventWait = 10 * time.Second

func startWatch(t *testing.T, ns netns.NS) *Watcher {
	t.Helper()
	w, err := Watch(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// expectEvent reads events until one matches, failing on timeout or when
// the watcher stops. Events before the match are skipped: the kernel sends
// more than one message for many changes.
func expectEvent(t *testing.T, w *Watcher, what string, match func(Event) bool) Event {
	t.Helper()
	timeout := time.After(eventWait)
	var seen []string
	for {
		select {
		case e, ok := <-w.Events():
			if !ok {
				t.Fatalf("%s: watcher stopped (err %v) after %q", what, w.Err(), seen)
			}
			if match(e) {
				return e
			}
			seen = append(seen, e.String())
		case <-timeout:
			t.Fatalf("%s: no matching event; saw %q", what, seen)
		}
	}
}

func TestWatchEvents(t *testing.T) {
	ns := nstest.NewNS(t)
	w := startWatch(t, openNS(t, ns))
	ip := func(args ...string) { t.Helper(); nstest.IP(t, append([]string{"-n", ns}, args...)...) }
	v4 := netip.MustParseAddr("192.0.2.1")
	v6 := netip.MustParseAddr("2001:db8::1")

	ip("link", "add", "e0", "type", "veth", "peer", "name", "e1")
	first := expectEvent(t, w, "e0 created", func(e Event) bool {
		return e.Kind == LinkChanged && !e.Deleted && e.Link.Name == "e0" && !e.Link.AdminUp
	})
	index := first.Link.Index
	isE0 := func(e Event) bool { return e.Kind == LinkChanged && !e.Deleted && e.Link.Index == index }

	steps := []struct {
		name  string
		cmd   []string
		match func(Event) bool
	}{
		{"e0 up, no carrier", []string{"link", "set", "e0", "up"},
			func(e Event) bool { return isE0(e) && e.Link.AdminUp && !e.Link.LowerUp }},
		{"e0 gets carrier", []string{"link", "set", "e1", "up"},
			func(e Event) bool { return isE0(e) && e.Link.AdminUp && e.Link.LowerUp }},
		{"IPv4 address added", []string{"addr", "add", "192.0.2.1/24", "dev", "e0"},
			func(e Event) bool {
				return e.Kind == AddrChanged && !e.Deleted && e.Addr.Addr == v4 && e.Addr.PrefixLen == 24 && e.Addr.IfIndex == index
			}},
		{"IPv6 address added", []string{"addr", "add", "2001:db8::1/64", "dev", "e0", "nodad"},
			func(e Event) bool {
				return e.Kind == AddrChanged && !e.Deleted && e.Addr.Addr == v6 && !e.Addr.Tentative && e.Addr.IfIndex == index
			}},
		{"IPv4 address removed", []string{"addr", "del", "192.0.2.1/24", "dev", "e0"},
			func(e Event) bool { return e.Kind == AddrChanged && e.Deleted && e.Addr.Addr == v4 }},
		{"IPv6 address removed", []string{"addr", "del", "2001:db8::1/64", "dev", "e0"},
			func(e Event) bool { return e.Kind == AddrChanged && e.Deleted && e.Addr.Addr == v6 }},
		{"e0 loses carrier", []string{"link", "set", "e1", "down"},
			func(e Event) bool { return isE0(e) && e.Link.AdminUp && !e.Link.LowerUp }},
		{"e0 down", []string{"link", "set", "e0", "down"},
			func(e Event) bool { return isE0(e) && !e.Link.AdminUp }},
		{"e0 deleted", []string{"link", "del", "e0"},
			func(e Event) bool {
				return e.Kind == LinkChanged && e.Deleted && e.Link.Index == index && e.Link.Name == "e0"
			}},
		{"e0 re-created with a new index", []string{"link", "add", "e0", "type", "veth", "peer", "name", "e1"},
			func(e Event) bool {
				return e.Kind == LinkChanged && !e.Deleted && e.Link.Name == "e0" && e.Link.Index != index
			}},
	}
	for _, step := range steps {
		ip(step.cmd...)
		expectEvent(t, w, step.name, step.match)
	}
}

func TestWatchStopsOnCancel(t *testing.T) {
	ns := openNS(t, nstest.NewNS(t))
	ctx, cancel := context.WithCancel(context.Background())
	w, err := Watch(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}

	// The watcher is blocked in a read on a quiet namespace; cancelling
	// must end it without waiting for an event.
	cancel()
	expectClosed(t, w)
	if err := w.Err(); err != nil {
		t.Errorf("Err() = %v after cancel, want nil", err)
	}
}

func TestWatchClose(t *testing.T) {
	ns := openNS(t, nstest.NewNS(t))
	w, err := Watch(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	// Close must return although the watcher is blocked reading a quiet
	// socket; run it aside so that a broken Close fails instead of hanging.
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(eventWait):
		t.Fatal("Close did not return")
	}
	expectClosed(t, w)
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func expectClosed(t *testing.T, w *Watcher) {
	t.Helper()
	timeout := time.After(eventWait)
	for {
		select {
		case e, ok := <-w.Events():
			if !ok {
				return
			}
			t.Logf("event after stop: %v", e)
		case <-timeout:
			t.Fatal("Events not closed after the watcher was stopped")
		}
	}
}

// TestWatchOverflow fills a tiny socket buffer with a burst of changes
// while nobody reads the events, and expects an Overflow event.
func TestWatchOverflow(t *testing.T) {
	name := nstest.NewNS(t)
	nstest.IP(t, "-n", name, "link", "add", "o0", "type", "veth", "peer", "name", "o1")
	nstest.IP(t, "-n", name, "link", "set", "o0", "up")

	// The kernel rounds a tiny buffer up to its minimum: a few messages.
	w, err := watch(context.Background(), openNS(t, name), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })

	// Far more than the event channel and the socket buffer hold.
	var batch strings.Builder
	for i := range 4 * eventBuffer {
		fmt.Fprintf(&batch, "addr add 10.%d.%d.1/32 dev o0\n", i/250, i%250)
	}
	file := filepath.Join(t.TempDir(), "batch")
	if err := os.WriteFile(file, []byte(batch.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	nstest.IP(t, "-n", name, "-batch", file)

	expectEvent(t, w, "overflow", func(e Event) bool { return e.Kind == Overflow })

	// The watcher keeps going after an overflow. Stale overflows from the
	// burst are still queued, and a change made while the backlog lasts may
	// itself be dropped (and reported as one more overflow), so keep making
	// changes until one of them arrives as an event.
	sentinels := make(map[netip.Addr]bool)
	deadline := time.Now().Add(eventWait)
	for i := 0; time.Now().Before(deadline); i++ {
		sentinel := netip.AddrFrom4([4]byte{10, 100, byte(i / 250), byte(i%250 + 1)})
		sentinels[sentinel] = true
		nstest.IP(t, "-n", name, "addr", "add", sentinel.String()+"/32", "dev", "o0")
		e := expectEvent(t, w, "event after overflow", func(e Event) bool {
			return e.Kind == Overflow || e.Kind == AddrChanged && sentinels[e.Addr.Addr]
		})
		if e.Kind == AddrChanged {
			return
		}
	}
	t.Fatalf("no event arrived after the overflow, only more overflows")
}

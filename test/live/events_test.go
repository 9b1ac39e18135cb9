package live

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/pkg/pm"
)

// recorder keeps every MPTCP event of one namespace, in order, from the
// moment it is made until the test ends.
type recorder struct {
	mu      sync.Mutex
	events  []pm.Event
	err     error         // why recording stopped early, if it did
	changed chan struct{} // closed and replaced on every new event
}

// record subscribes to the path manager events of namespace ns.
func record(t *testing.T, ns string) *recorder {
	t.Helper()
	stream, err := pm.DialEvents(pm.WithNetNS(nstest.Open(t, ns)))
	if err != nil {
		t.Fatalf("subscribe to MPTCP events in %s: %v", ns, err)
	}
	r := &recorder{changed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := stream.Next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					r.stop(err)
				}
				return
			}
			r.add(ev)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		stream.Close()
	})
	return r
}

func (r *recorder) add(ev pm.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	close(r.changed)
	r.changed = make(chan struct{})
}

// stop records why the stream ended; lost events (ErrEventsLost) end it
// too, since a count with holes proves nothing.
func (r *recorder) stop(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
	close(r.changed)
	r.changed = make(chan struct{})
}

// snapshot returns the events so far and the error that ended recording.
func (r *recorder) snapshot() ([]pm.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pm.Event(nil), r.events...), r.err
}

// len returns the number of events recorded so far.
func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// count returns how many events of the given types were recorded.
func (r *recorder) count(types ...pm.EventType) int {
	evs, _ := r.snapshot()
	n := 0
	for _, ev := range evs {
		for _, typ := range types {
			if ev.Type == typ {
				n++
			}
		}
	}
	return n
}

// waitFor waits for an event at index `from` or later that matches, and
// returns its index. It fails the test when recording stopped or nothing
// matched within the bound.
func (r *recorder) waitFor(t *testing.T, from int, within time.Duration, what string, match func(pm.Event) bool) int {
	t.Helper()
	timeout := time.After(within)
	for {
		r.mu.Lock()
		for i := from; i < len(r.events); i++ {
			if match(r.events[i]) {
				r.mu.Unlock()
				return i
			}
		}
		from = max(from, len(r.events))
		err, changed := r.err, r.changed
		r.mu.Unlock()
		if err != nil {
			t.Fatalf("waiting for %s: the event stream stopped: %v", what, err)
		}
		select {
		case <-changed:
		case <-timeout:
			evs, _ := r.snapshot()
			t.Fatalf("no %s within %v; events: %v", what, within, describe(evs))
		}
	}
}

// describe lists events briefly for failure messages.
func describe(evs []pm.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type.String() + " " + ev.Saddr.String() + "->" + ev.Daddr.String()
		if ev.Has(pm.EvBackup) {
			out[i] += map[uint8]string{0: " backup=0", 1: " backup=1"}[ev.Backup]
		}
	}
	return out
}

// errLost tells a lost-events failure apart in the final report.
func errLost(err error) bool { return errors.Is(err, pm.ErrEventsLost) }

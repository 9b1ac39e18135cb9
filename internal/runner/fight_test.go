package runner

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func newDetector(t *testing.T, c Clock) *FightDetector {
	t.Helper()
	d, err := NewFightDetector(FightOptions{
		Window:      10 * time.Second,
		Threshold:   3,
		BackoffBase: 30 * time.Second,
		BackoffMax:  2 * time.Minute,
		Clock:       c,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFightDetector(t *testing.T) {
	type call struct {
		after time.Duration // clock step before the call
		key   string
		want  Decision // Until as an offset from t0, as time.Time{}.Add
	}
	until := func(d time.Duration) time.Time { return t0.Add(d) }
	const key = "add 192.0.2.1"
	tests := []struct {
		name  string
		calls []call
	}{
		{
			name: "needed up to the threshold within the window: apply",
			calls: []call{
				{0, key, Decision{Apply: true, Count: 1}},
				{time.Second, key, Decision{Apply: true, Count: 2}},
				{time.Second, key, Decision{Apply: true, Count: 3}},
			},
		},
		{
			name: "more than the threshold within the window: hold off",
			calls: []call{
				{0, key, Decision{Apply: true, Count: 1}},
				{time.Second, key, Decision{Apply: true, Count: 2}},
				{time.Second, key, Decision{Apply: true, Count: 3}},
				{time.Second, key, Decision{Fighting: true, Count: 4, Until: until(33 * time.Second), Backoff: 30 * time.Second}},
				// Still needed during the hold: not applied, no new hold.
				{time.Second, key, Decision{Fighting: true, Count: 0, Until: until(33 * time.Second)}},
			},
		},
		{
			name: "needs spread wider than the window are no fight",
			calls: []call{
				{0, key, Decision{Apply: true, Count: 1}},
				{5 * time.Second, key, Decision{Apply: true, Count: 2}},
				{5 * time.Second, key, Decision{Apply: true, Count: 2}},
				{5 * time.Second, key, Decision{Apply: true, Count: 2}},
				{5 * time.Second, key, Decision{Apply: true, Count: 2}},
			},
		},
		{
			name: "keys are counted apart",
			calls: []call{
				{0, "a", Decision{Apply: true, Count: 1}},
				{0, "b", Decision{Apply: true, Count: 1}},
				{0, "a", Decision{Apply: true, Count: 2}},
				{0, "c", Decision{Apply: true, Count: 1}},
				{0, "a", Decision{Apply: true, Count: 3}},
				{0, "b", Decision{Apply: true, Count: 2}},
			},
		},
		{
			name: "undone again after the hold: the next hold doubles at once, up to the cap",
			calls: []call{
				{0, key, Decision{Apply: true, Count: 1}},
				{0, key, Decision{Apply: true, Count: 2}},
				{0, key, Decision{Apply: true, Count: 3}},
				{0, key, Decision{Fighting: true, Count: 4, Until: until(30 * time.Second), Backoff: 30 * time.Second}},
				{5 * time.Second, key, Decision{Fighting: true, Until: until(30 * time.Second)}},
				{25 * time.Second, key, Decision{Apply: true, Fighting: true, Count: 1}},                                          // 30s
				{time.Second, key, Decision{Fighting: true, Count: 2, Until: until(91 * time.Second), Backoff: time.Minute}},      // 31s
				{60 * time.Second, key, Decision{Apply: true, Fighting: true, Count: 1}},                                          // 91s
				{time.Second, key, Decision{Fighting: true, Count: 2, Until: until(212 * time.Second), Backoff: 2 * time.Minute}}, // 92s
				{120 * time.Second, key, Decision{Apply: true, Fighting: true, Count: 1}},                                         // 212s
				{time.Second, key, Decision{Fighting: true, Count: 2, Until: until(333 * time.Second), Backoff: 2 * time.Minute}}, // 213s
			},
		},
		{
			name: "a quiet window after the hold forgets the fight",
			calls: []call{
				{0, key, Decision{Apply: true, Count: 1}},
				{0, key, Decision{Apply: true, Count: 2}},
				{0, key, Decision{Apply: true, Count: 3}},
				{0, key, Decision{Fighting: true, Count: 4, Until: until(30 * time.Second), Backoff: 30 * time.Second}},
				{30 * time.Second, key, Decision{Apply: true, Fighting: true, Count: 1}},
				{10 * time.Second, key, Decision{Apply: true, Count: 1}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewFakeClock(t0)
			d := newDetector(t, c)
			for i, call := range tt.calls {
				c.Advance(call.after)
				got := d.Needed(call.key)
				if diff := cmp.Diff(call.want, got); diff != "" {
					t.Errorf("call %d (%s at %v): decision (-want +got):\n%s", i, call.key, c.Now().Sub(t0), diff)
				}
			}
		})
	}
}

func TestFightDetectorFightsForgetReset(t *testing.T) {
	c := NewFakeClock(t0)
	d := newDetector(t, c)
	for range 4 {
		d.Needed("del 10")
		d.Needed("add 192.0.2.1")
		d.Needed("add 192.0.2.2")
	}
	want := []Fight{
		{Key: "add 192.0.2.1", Until: t0.Add(30 * time.Second), Strikes: 1},
		{Key: "add 192.0.2.2", Until: t0.Add(30 * time.Second), Strikes: 1},
		{Key: "del 10", Until: t0.Add(30 * time.Second), Strikes: 1},
	}
	if diff := cmp.Diff(want, d.Fights()); diff != "" {
		t.Errorf("Fights (-want +got):\n%s", diff)
	}

	d.Forget("del 10")
	if got := d.Needed("del 10"); !got.Apply || got.Fighting {
		t.Errorf("after Forget: %+v, want a fresh key that is applied", got)
	}
	d.Reset()
	if got := d.Fights(); len(got) != 0 {
		t.Errorf("Fights after Reset = %v, want none", got)
	}

	c.Advance(time.Hour)
	if got := d.Fights(); len(got) != 0 {
		t.Errorf("Fights after the holds ended = %v, want none", got)
	}
}

func TestNewFightDetectorRejectsBadOptions(t *testing.T) {
	for _, opts := range []FightOptions{
		{Window: -1},
		{Threshold: -1},
		{BackoffBase: -1},
		{BackoffBase: time.Minute, BackoffMax: time.Second},
	} {
		if _, err := NewFightDetector(opts); err == nil {
			t.Errorf("NewFightDetector(%+v) accepted", opts)
		}
	}
	if _, err := NewFightDetector(FightOptions{}); err != nil {
		t.Errorf("NewFightDetector with defaults: %v", err)
	}
}

package runner

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults for FightOptions left zero.
const (
	DefaultFightWindow      = time.Minute
	DefaultFightThreshold   = 3
	DefaultFightBackoffBase = 10 * time.Second
	DefaultFightBackoffMax  = 5 * time.Minute
)

// FightOptions tune a FightDetector.
type FightOptions struct {
	// A key needed more than Threshold times within Window is being fought
	// over. Defaults DefaultFightWindow and DefaultFightThreshold.
	Window    time.Duration
	Threshold int
	// BackoffBase is the first hold-off; each further fight over the same key
	// doubles it, up to BackoffMax. Defaults DefaultFightBackoffBase and
	// DefaultFightBackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Clock defaults to SystemClock.
	Clock Clock
}

// FightDetector notices that another manager is undoing our work: the same
// corrective step (a key such as "add 192.0.2.1") is needed again and again
// within a short window. It then says to hold off for an exponentially
// growing time instead of fighting back on every run. It is safe for
// concurrent use.
type FightDetector struct {
	window    time.Duration
	threshold int
	base      time.Duration
	cap       time.Duration
	clock     Clock

	mu   sync.Mutex
	keys map[string]*contest
}

// contest is what the detector remembers about one key.
type contest struct {
	needed  []time.Time // since the last hold, within the window, oldest first
	last    time.Time   // last time the key was needed, holds included
	strikes int         // fights found with no quiet window in between
	until   time.Time   // hold off until then
}

// Decision is the detector's answer for one needed step.
type Decision struct {
	// Apply says whether to apply the step now.
	Apply bool
	// Fighting says the key has been fought over and no quiet window has
	// passed since.
	Fighting bool
	// Count is how many times the step was needed within the window, this
	// time included, counting since the last hold ended.
	Count int
	// Until is when a held-off step may be applied again.
	Until time.Time
	// Backoff is the hold-off that began with this call; 0 if none did.
	Backoff time.Duration
}

// Fight describes a key being held off.
type Fight struct {
	Key     string
	Until   time.Time
	Strikes int
}

// NewFightDetector returns a detector with opts' zero fields set to the
// defaults.
func NewFightDetector(opts FightOptions) (*FightDetector, error) {
	if opts.Window == 0 {
		opts.Window = DefaultFightWindow
	}
	if opts.Threshold == 0 {
		opts.Threshold = DefaultFightThreshold
	}
	if opts.BackoffBase == 0 {
		opts.BackoffBase = DefaultFightBackoffBase
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = max(DefaultFightBackoffMax, opts.BackoffBase)
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	switch {
	case opts.Window < 0 || opts.Threshold < 0 || opts.BackoffBase < 0:
		return nil, errors.New("fight detector: negative option")
	case opts.BackoffMax < opts.BackoffBase:
		return nil, fmt.Errorf("fight detector: backoff cap %v is below backoff base %v", opts.BackoffMax, opts.BackoffBase)
	}
	return &FightDetector{
		window:    opts.Window,
		threshold: opts.Threshold,
		base:      opts.BackoffBase,
		cap:       opts.BackoffMax,
		clock:     opts.Clock,
		keys:      make(map[string]*contest),
	}, nil
}

// Needed records that the corrective step key is needed now and decides
// whether to apply it. Call it every time a run finds the step needed, also
// while the key is held off: that is how the detector knows the fight goes
// on.
//
// A key needed more than Threshold times within Window starts a hold-off. Once
// a key has been fought over, being needed again within Window after the
// hold (our step was undone once more) starts the next, doubled hold-off at
// once. A key not needed for a whole Window (counted from its last need or
// the end of its hold, whichever is later) is forgotten.
func (d *FightDetector) Needed(key string) Decision {
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.prune(now)

	c := d.keys[key]
	if c == nil {
		c = &contest{}
		d.keys[key] = c
	}
	c.last = now
	if now.Before(c.until) {
		return Decision{Fighting: true, Count: len(c.needed), Until: c.until}
	}

	c.needed = slices.DeleteFunc(c.needed, func(t time.Time) bool { return now.Sub(t) >= d.window })
	c.needed = append(c.needed, now)
	limit := d.threshold
	if c.strikes > 0 {
		limit = 1
	}
	if len(c.needed) <= limit {
		return Decision{Apply: true, Fighting: c.strikes > 0, Count: len(c.needed)}
	}

	c.strikes++
	b := d.backoff(c.strikes)
	c.until = now.Add(b)
	n := len(c.needed)
	c.needed = nil
	return Decision{Fighting: true, Count: n, Until: c.until, Backoff: b}
}

// prune forgets keys that have not been needed for a window since they were
// last needed or their hold ended, whichever is later. Counting from the end
// of the hold keeps the strikes of a key that the caller did not ask about
// while it was held off.
func (d *FightDetector) prune(now time.Time) {
	for k, c := range d.keys {
		quietSince := c.last
		if c.until.After(quietSince) {
			quietSince = c.until
		}
		if now.Sub(quietSince) >= d.window {
			delete(d.keys, k)
		}
	}
}

func (d *FightDetector) backoff(strikes int) time.Duration {
	b := d.base
	for i := 1; i < strikes && b < d.cap; i++ {
		b *= 2
	}
	return min(b, d.cap)
}

// Forget drops what the detector knows about key, for example when the
// configuration changed and the step is the operator's new intent.
func (d *FightDetector) Forget(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.keys, key)
}

// Reset forgets every key.
func (d *FightDetector) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.keys)
}

// Fights returns the keys being held off now, sorted by key.
func (d *FightDetector) Fights() []Fight {
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	var fights []Fight
	for k, c := range d.keys {
		if now.Before(c.until) {
			fights = append(fights, Fight{Key: k, Until: c.until, Strikes: c.strikes})
		}
	}
	slices.SortFunc(fights, func(a, b Fight) int { return strings.Compare(a.Key, b.Key) })
	return fights
}

package runner

import (
	"fmt"
	"slices"
	"time"
)

// Reasons the runner adds on its own.
const (
	// ReasonResync marks a run forced by the maximum interval.
	ReasonResync = "resync"
	// ReasonRetry marks a run that retries after a failed one.
	ReasonRetry = "retry"
)

// maxReasons bounds the reasons handed to one run, so that a storm of
// distinct reasons cannot grow memory or log lines without bound. Triggers
// beyond it are only counted: remembering them to deduplicate would be the
// unbounded memory the cap avoids.
const maxReasons = 32

// schedule is the runner's policy: given what happened, when is the next run
// due, and why. It does no I/O and takes no locks (the Runner serialises
// access), so the policy is tested on its own with plain values.
type schedule struct {
	minInterval time.Duration
	maxInterval time.Duration // 0: no periodic runs
	backoffBase time.Duration
	backoffMax  time.Duration

	epoch     time.Time // when the loop started; periodic runs count from it until the first run
	ran       bool
	lastStart time.Time

	pending bool // a trigger arrived since the last run started
	reasons []string
	dropped int // triggers whose reason did not fit in maxReasons

	failures int       // consecutive failed runs
	retryAt  time.Time // meaningful when failures > 0
}

// trigger asks for a run as soon as the minimum interval allows.
func (s *schedule) trigger(reason string) {
	s.pending = true
	if reason == "" {
		reason = "unspecified"
	}
	if slices.Contains(s.reasons, reason) {
		return
	}
	if len(s.reasons) >= maxReasons {
		s.dropped++
		return
	}
	s.reasons = append(s.reasons, reason)
}

// earliest is the first time a run may start: minInterval after the last
// start. Before the first run it is the zero time, which is always past.
func (s *schedule) earliest() time.Time {
	if !s.ran {
		return time.Time{}
	}
	return s.lastStart.Add(s.minInterval)
}

// periodic is when the maximum interval forces a run.
func (s *schedule) periodic() (time.Time, bool) {
	if s.maxInterval <= 0 {
		return time.Time{}, false
	}
	base := s.epoch
	if s.ran {
		base = s.lastStart
	}
	return base.Add(s.maxInterval), true
}

// next returns when the next run is due, and false when nothing is
// scheduled. While runs fail, the retry replaces the periodic run: a retry is
// a full run too, and running on the periodic beat would defeat the backoff.
// Triggers still run as soon as the minimum interval allows, since they
// bring news that the retry would not.
func (s *schedule) next() (time.Time, bool) {
	var due time.Time
	ok := false
	consider := func(t time.Time) {
		if !ok || t.Before(due) {
			due, ok = t, true
		}
	}
	if s.pending {
		consider(s.earliest())
	}
	if s.failures > 0 {
		consider(s.retryAt)
	} else if p, set := s.periodic(); set {
		consider(p)
	}
	return due, ok
}

// start records that a run starts at now and returns why it runs: the
// triggers' reasons in order of first arrival, then the runner's own.
func (s *schedule) start(now time.Time) []string {
	reasons := s.reasons
	if s.dropped > 0 {
		reasons = append(reasons, fmt.Sprintf("%d more triggers", s.dropped))
	}
	if s.failures > 0 && !now.Before(s.retryAt) {
		reasons = append(reasons, ReasonRetry)
	}
	if p, set := s.periodic(); set && s.failures == 0 && !now.Before(p) {
		reasons = append(reasons, ReasonResync)
	}
	s.pending, s.reasons, s.dropped = false, nil, 0
	s.ran, s.lastStart = true, now
	return reasons
}

// finish records the outcome of the run that started last. After a failure
// it schedules a retry and returns how long after end the retry is due.
func (s *schedule) finish(end time.Time, err error) time.Duration {
	if err == nil {
		s.failures, s.retryAt = 0, time.Time{}
		return 0
	}
	s.failures++
	s.retryAt = end.Add(s.backoff(s.failures))
	if e := s.earliest(); s.retryAt.Before(e) {
		s.retryAt = e
	}
	return s.retryAt.Sub(end)
}

// backoff is the delay after the n-th consecutive failure: the base doubled
// n-1 times, capped.
func (s *schedule) backoff(n int) time.Duration {
	d := s.backoffBase
	for i := 1; i < n && d < s.backoffMax; i++ {
		d *= 2
	}
	return min(d, s.backoffMax)
}

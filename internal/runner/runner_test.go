package runner

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// These tests run inside synctest bubbles: synctest.Wait returns once the
// loop is blocked (waiting on a fake timer, a trigger or a run the test
// holds), so every step is deterministic and nothing sleeps. Time moves only
// by FakeClock.Advance.

// seenRun is what the test saw of one call of the Func.
type seenRun struct {
	At      time.Duration // since t0
	Reasons []string
}

// loopHarness runs a Runner's Loop for one test.
type loopHarness struct {
	clock *FakeClock
	r     *Runner

	mu      sync.Mutex
	runs    []seenRun
	results []Result
	errs    []error       // returned by the next runs, in order; then nil
	hold    chan struct{} // when set, runs wait for it to be closed (or ctx)

	cancel   context.CancelFunc
	loopDone chan error
	stopOnce sync.Once
}

// startLoop makes a Runner with opts (and a fake clock at t0) and runs its
// Loop until the test ends. Call it inside a synctest bubble.
func startLoop(t *testing.T, opts Options) *loopHarness {
	t.Helper()
	h := &loopHarness{clock: NewFakeClock(t0), loopDone: make(chan error, 1)}
	opts.Clock = h.clock
	opts.OnResult = func(res Result) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.results = append(h.results, res)
	}
	r, err := New(h.fn, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	ctx, cancel := context.WithCancel(t.Context())
	h.cancel = cancel
	go func() { h.loopDone <- r.Loop(ctx) }()
	t.Cleanup(func() { h.stop(t) })
	synctest.Wait()
	return h
}

// stop cancels the loop's context and waits for Loop to return nil.
func (h *loopHarness) stop(t *testing.T) {
	t.Helper()
	h.stopOnce.Do(func() {
		h.cancel()
		if err := <-h.loopDone; err != nil {
			t.Errorf("Loop = %v, want nil", err)
		}
	})
}

func (h *loopHarness) fn(ctx context.Context, reasons []string) error {
	h.mu.Lock()
	h.runs = append(h.runs, seenRun{At: h.clock.Now().Sub(t0), Reasons: reasons})
	hold := h.hold
	var err error
	if len(h.errs) > 0 {
		err, h.errs = h.errs[0], h.errs[1:]
	}
	h.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

// holdRuns makes the following runs block until the returned func is called.
func (h *loopHarness) holdRuns() (release func()) {
	ch := make(chan struct{})
	h.mu.Lock()
	h.hold = ch
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		h.hold = nil
		h.mu.Unlock()
		close(ch)
	}
}

func (h *loopHarness) failNext(errs ...error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errs = append(h.errs, errs...)
}

// advance moves the fake clock and waits until the loop has reacted.
func (h *loopHarness) advance(d time.Duration) {
	h.clock.Advance(d)
	synctest.Wait()
}

func (h *loopHarness) seen() []seenRun {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]seenRun(nil), h.runs...)
}

func (h *loopHarness) checkRuns(t *testing.T, want []seenRun) {
	t.Helper()
	if diff := cmp.Diff(want, h.seen()); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
}

func TestBurstCollapsesIntoOneMoreRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, Options{MinInterval: time.Second, MaxInterval: time.Hour})
		release := h.holdRuns()
		h.r.Trigger("first")
		synctest.Wait() // the first run is in progress now

		var wg sync.WaitGroup
		for g := range 10 {
			wg.Go(func() {
				for i := range 100 {
					h.r.Trigger(fmt.Sprintf("event %d", (g*100+i)%3))
				}
			})
		}
		wg.Wait()
		release()
		synctest.Wait()
		h.advance(time.Second)
		h.advance(time.Second) // nothing is left to run
		runs := h.seen()
		if len(runs) == 2 {
			slices.Sort(runs[1].Reasons) // the goroutines raced to be first
		}
		want := []seenRun{
			{At: 0, Reasons: []string{"first"}},
			{At: time.Second, Reasons: []string{"event 0", "event 1", "event 2"}},
		}
		if diff := cmp.Diff(want, runs); diff != "" {
			t.Errorf("runs (-want +got):\n%s", diff)
		}
	})
}

func TestBurstWhileIdleRunsAtMostTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, Options{MinInterval: time.Second, MaxInterval: time.Hour})
		for range 1000 {
			h.r.Trigger("event") // races with the first run: that is the point
		}
		synctest.Wait()
		h.advance(time.Second)
		h.advance(time.Second)
		runs := h.seen()
		if len(runs) < 1 || len(runs) > 2 {
			t.Fatalf("got %d runs for a burst of 1000 triggers, want 1 or 2: %v", len(runs), runs)
		}
		if runs[0].At != 0 {
			t.Errorf("first run at %v, want at once", runs[0].At)
		}
		if len(runs) == 2 && runs[1].At != time.Second {
			t.Errorf("second run at %v, want after the minimum interval (1s)", runs[1].At)
		}
	})
}

func TestMinIntervalBoundsTheRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, Options{MinInterval: time.Second})
		h.r.Trigger("a")
		synctest.Wait()
		h.r.Trigger("b")
		synctest.Wait()
		h.advance(999 * time.Millisecond)
		h.checkRuns(t, []seenRun{{At: 0, Reasons: []string{"a"}}})

		h.advance(time.Millisecond)
		h.advance(10 * time.Second) // a quiet period: the next trigger acts at once
		h.r.Trigger("c")
		synctest.Wait()
		h.checkRuns(t, []seenRun{
			{At: 0, Reasons: []string{"a"}},
			{At: time.Second, Reasons: []string{"b"}},
			{At: 11 * time.Second, Reasons: []string{"c"}},
		})
	})
}

func TestMaxIntervalForcesPeriodicRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, Options{MinInterval: time.Second, MaxInterval: 10 * time.Second})
		h.advance(9 * time.Second)
		h.checkRuns(t, nil)
		h.advance(time.Second)      // 10s
		h.advance(10 * time.Second) // 20s
		h.advance(5 * time.Second)  // 25s
		h.r.Trigger("a")            // restarts the period
		synctest.Wait()
		h.advance(9 * time.Second) // 34s
		h.advance(time.Second)     // 35s
		h.checkRuns(t, []seenRun{
			{At: 10 * time.Second, Reasons: []string{ReasonResync}},
			{At: 20 * time.Second, Reasons: []string{ReasonResync}},
			{At: 25 * time.Second, Reasons: []string{"a"}},
			{At: 35 * time.Second, Reasons: []string{ReasonResync}},
		})
	})
}

func TestErrorBackoffDoublesCapsAndResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, Options{BackoffBase: time.Second, BackoffMax: 4 * time.Second})
		fail := errors.New("EBUSY")
		h.failNext(fail, fail, fail, fail, nil, fail)
		h.r.Trigger("a")
		synctest.Wait()
		for _, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
			h.advance(d - time.Millisecond) // not yet
			h.advance(time.Millisecond)
		}
		h.advance(time.Hour) // success: no retry pending
		h.r.Trigger("b")
		synctest.Wait()
		h.advance(time.Second)

		h.checkRuns(t, []seenRun{
			{At: 0, Reasons: []string{"a"}},
			{At: 1 * time.Second, Reasons: []string{ReasonRetry}},
			{At: 3 * time.Second, Reasons: []string{ReasonRetry}},
			{At: 7 * time.Second, Reasons: []string{ReasonRetry}},
			{At: 11 * time.Second, Reasons: []string{ReasonRetry}},
			{At: time.Hour + 11*time.Second, Reasons: []string{"b"}},
			{At: time.Hour + 12*time.Second, Reasons: []string{ReasonRetry}},
		})
		var got []time.Duration
		for _, res := range h.results {
			got = append(got, res.RetryIn)
		}
		want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 0, time.Second, 0}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("RetryIn of each run (-want +got):\n%s", diff)
		}
		if len(h.results) < 4 {
			t.Fatalf("got %d results, want at least 4", len(h.results))
		}
		if f := h.results[3].Failures; f != 4 {
			t.Errorf("Failures after the 4th failed run = %d, want 4", f)
		}
		if !errors.Is(h.results[0].Err, fail) {
			t.Errorf("Result.Err = %v, want %v", h.results[0].Err, fail)
		}
	})
}

func TestRunNowWaitsForARunThatStartedAfterIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, Options{MinInterval: time.Second})
		release := h.holdRuns()
		h.r.Trigger("a")
		synctest.Wait() // run "a" is in progress

		want := errors.New("rejected")
		answer := make(chan error, 1)
		go func() { answer <- h.r.RunNow(t.Context(), "reload") }()
		synctest.Wait()
		h.failNext(want) // for the next run: the one in progress has its outcome already

		release()
		synctest.Wait()
		select {
		case err := <-answer:
			t.Fatalf("RunNow returned %v after the run that was in progress when it was called", err)
		default:
		}
		h.advance(time.Second)
		if err := <-answer; !errors.Is(err, want) {
			t.Errorf("RunNow = %v, want the error of its own run, %v", err, want)
		}
		h.checkRuns(t, []seenRun{
			{At: 0, Reasons: []string{"a"}},
			{At: time.Second, Reasons: []string{"reload"}},
		})
	})
}

func TestRunNowWhenIdleRunsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, Options{MinInterval: time.Second})
		h.r.Trigger("pending")
		synctest.Wait()
		h.advance(5 * time.Second)
		if err := h.r.RunNow(t.Context(), "reload"); err != nil {
			t.Errorf("RunNow = %v, want nil", err)
		}
		// Two callers at once share one run.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		h.r.Trigger("file changed")
		for i := range errs {
			wg.Go(func() { errs[i] = h.r.RunNow(t.Context(), "reload") })
		}
		synctest.Wait()
		h.advance(time.Second)
		wg.Wait()
		if diff := cmp.Diff([]error{nil, nil}, errs, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
			t.Errorf("RunNow results (-want +got):\n%s", diff)
		}
		h.checkRuns(t, []seenRun{
			{At: 0, Reasons: []string{"pending"}},
			{At: 5 * time.Second, Reasons: []string{"reload"}},
			{At: 6 * time.Second, Reasons: []string{"file changed", "reload"}},
		})
	})
}

func TestRunNowCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, Options{MinInterval: time.Second})
		h.r.Trigger("a")
		synctest.Wait()

		ctx, cancel := context.WithCancel(t.Context())
		answer := make(chan error, 1)
		go func() { answer <- h.r.RunNow(ctx, "reload") }()
		synctest.Wait()
		cancel()
		if err := <-answer; !errors.Is(err, context.Canceled) {
			t.Errorf("RunNow after cancel = %v, want context.Canceled", err)
		}
		// The requested run still happens, and nothing blocks on the caller
		// that left.
		h.advance(time.Second)
		h.checkRuns(t, []seenRun{
			{At: 0, Reasons: []string{"a"}},
			{At: time.Second, Reasons: []string{"reload"}},
		})
	})
}

func TestRunNowWhenLoopStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, Options{MinInterval: time.Second})
		h.r.Trigger("a")
		synctest.Wait()
		answer := make(chan error, 1)
		go func() { answer <- h.r.RunNow(t.Context(), "reload") }()
		synctest.Wait()

		h.stop(t)
		if err := <-answer; !errors.Is(err, ErrStopped) {
			t.Errorf("RunNow waiting when the loop stopped = %v, want ErrStopped", err)
		}
		if err := h.r.RunNow(t.Context(), "late"); !errors.Is(err, ErrStopped) {
			t.Errorf("RunNow after the loop stopped = %v, want ErrStopped", err)
		}
		h.checkRuns(t, []seenRun{{At: 0, Reasons: []string{"a"}}})
	})
}

func TestLoopExitsWhileARunIsPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, Options{MinInterval: time.Second, MaxInterval: time.Minute})
		h.r.Trigger("a")
		synctest.Wait()
		h.r.Trigger("b") // pending until 1s
		synctest.Wait()
		h.stop(t)
		h.advance(time.Hour)
		h.checkRuns(t, []seenRun{{At: 0, Reasons: []string{"a"}}})
		if n := h.clock.Timers(); n != 0 {
			t.Errorf("%d timers left behind by the loop, want 0", n)
		}
	})
}

func TestLoopExitsDuringARun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, Options{})
		h.holdRuns() // never released: only the context ends the run
		h.r.Trigger("a")
		synctest.Wait()
		h.stop(t)
		if len(h.results) != 1 || !errors.Is(h.results[0].Err, context.Canceled) {
			t.Errorf("results = %+v, want one run ended by context.Canceled", h.results)
		}
	})
}

func TestLoopRunsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, Options{})
		if err := h.r.Loop(t.Context()); err == nil {
			t.Error("second Loop on the same Runner returned nil, want an error")
		}
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	noop := func(context.Context, []string) error { return nil }
	tests := []struct {
		name string
		fn   Func
		opts Options
	}{
		{"nil func", nil, Options{}},
		{"negative min", noop, Options{MinInterval: -1}},
		{"negative max", noop, Options{MaxInterval: -1}},
		{"max below min", noop, Options{MinInterval: 2 * time.Second, MaxInterval: time.Second}},
		{"negative backoff", noop, Options{BackoffBase: -1}},
		{"cap below base", noop, Options{BackoffBase: time.Minute, BackoffMax: time.Second}},
	}
	for _, tt := range tests {
		if _, err := New(tt.fn, tt.opts); err == nil {
			t.Errorf("%s: New accepted %+v", tt.name, tt.opts)
		}
	}
	if _, err := New(noop, Options{MinInterval: time.Second, MaxInterval: time.Second}); err != nil {
		t.Errorf("New with max == min: %v", err)
	}
}

// logEntry is a trigger or a run start, in the order they happened.
type logEntry struct {
	trigger bool
	at      time.Duration // since t0
}

// TestRandomTriggers drives the loop with random triggers, random clock
// steps and random failures, and checks the invariants that matter to the
// daemon: runs never start closer than the minimum interval, every trigger
// is followed by a run that started after it, and without failures no gap
// between runs exceeds the maximum interval (by more than one clock step).
func TestRandomTriggers(t *testing.T) {
	const (
		minInterval = 100 * time.Millisecond
		maxInterval = time.Second
		maxStep     = 20 * time.Millisecond
	)
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, seed))
				withFailures := seed%2 == 1
				h := startLoop(t, Options{MinInterval: minInterval, MaxInterval: maxInterval, BackoffBase: 50 * time.Millisecond, BackoffMax: 400 * time.Millisecond})

				// Each trigger returns and the loop settles before the next
				// step, so the log has triggers and runs in their true order.
				var log []logEntry
				runsLogged := 0
				logRuns := func() {
					runs := h.seen()
					for _, r := range runs[runsLogged:] {
						log = append(log, logEntry{at: r.At})
					}
					runsLogged = len(runs)
				}
				for range 2000 {
					if withFailures && rng.IntN(4) == 0 {
						h.failNext(errors.New("transient"))
					}
					if rng.IntN(3) == 0 {
						log = append(log, logEntry{trigger: true, at: h.clock.Now().Sub(t0)})
						h.r.Trigger("event")
						synctest.Wait()
						logRuns()
					}
					h.advance(time.Duration(rng.Int64N(int64(maxStep))) + time.Millisecond)
					logRuns()
				}
				stepped := len(log)
				h.mu.Lock()
				h.errs = nil
				h.mu.Unlock()
				h.advance(time.Minute) // one jump: runs what is still pending
				logRuns()

				lastRun := time.Duration(-1)
				waiting := -1 // index of the oldest trigger not yet followed by a run
				for i, e := range log {
					if e.trigger {
						if waiting < 0 {
							waiting = i
						}
						continue
					}
					if lastRun >= 0 && e.at-lastRun < minInterval {
						t.Fatalf("runs at %v and %v are closer than the minimum interval %v", lastRun, e.at, minInterval)
					}
					if !withFailures && i < stepped && lastRun >= 0 && e.at-lastRun > maxInterval+maxStep {
						t.Fatalf("no run between %v and %v: longer than the maximum interval %v", lastRun, e.at, maxInterval)
					}
					if waiting >= 0 && e.at < log[waiting].at {
						t.Fatalf("run at %v started before the trigger at %v it answers", e.at, log[waiting].at)
					}
					lastRun, waiting = e.at, -1
				}
				if waiting >= 0 {
					t.Fatalf("trigger at %v was never followed by a run", log[waiting].at)
				}
				if runsLogged < 100 {
					t.Fatalf("only %d runs: the test did not exercise the loop", runsLogged)
				}
			})
		})
	}
}

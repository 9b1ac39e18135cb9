// Package runner runs one function on behalf of many triggers, the way the
// daemon's reconcile must run: a burst of triggers collapses into one more
// run, the first trigger after a quiet period acts at once, a minimum
// interval bounds the rate, a maximum interval forces a periodic run, and a
// failed run is retried with exponential backoff. Callers that must know the
// outcome (a reload) can wait for a run that starts after they asked.
//
// The package also has a FightDetector, which tells when the same corrective
// step keeps being needed because something else undoes it.
package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Defaults for Options left zero.
const (
	DefaultBackoffBase = time.Second
	DefaultBackoffMax  = time.Minute
)

// ErrStopped is returned by RunNow when the loop has ended before a run could
// answer it.
var ErrStopped = errors.New("runner stopped")

// Func is the work a Runner runs. reasons says why, in the order the
// triggers first arrived, each once (for example ["file changed", "address
// event", "resync"]). ctx is the Loop's context.
type Func func(ctx context.Context, reasons []string) error

// Options configure a Runner. Zero values are sensible except where noted.
type Options struct {
	// MinInterval is the least time between the starts of two runs. 0 lets
	// runs follow each other back to back.
	MinInterval time.Duration
	// MaxInterval forces a run (reason ReasonResync) when none has started for
	// this long. 0 disables periodic runs. It must not be below MinInterval.
	MaxInterval time.Duration
	// BackoffBase is the delay before the first retry of a failed run; it
	// doubles with each further failure up to BackoffMax and starts over after
	// a success. Default DefaultBackoffBase and DefaultBackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Clock defaults to SystemClock.
	Clock Clock
	// OnResult, if set, is called by the loop after every run, before the
	// next one can start; it should return quickly.
	OnResult func(Result)
}

// Result describes one finished run.
type Result struct {
	Reasons  []string
	Started  time.Time
	Finished time.Time
	Err      error
	// Failures counts consecutive failed runs, this one included.
	Failures int
	// RetryIn is how long after Finished the retry is due (0 after success).
	RetryIn time.Duration
}

// Runner calls its Func from Loop whenever the schedule says so. Trigger and
// RunNow may be called from any goroutine.
type Runner struct {
	fn       Func
	clock    Clock
	onResult func(Result)

	// wake is the 1-slot channel a trigger sends on without blocking; a full
	// slot already guarantees the loop will look at the schedule again.
	wake chan struct{}

	mu      sync.Mutex
	sched   schedule
	waiters []chan error // RunNow callers for the next run to start
	state   loopState
}

type loopState int

const (
	loopNotStarted loopState = iota
	loopRunning
	loopStopped
)

// New returns a Runner for fn. Nothing runs until Loop is called.
func New(fn Func, opts Options) (*Runner, error) {
	if fn == nil {
		return nil, errors.New("runner: nil func")
	}
	if opts.BackoffBase == 0 {
		opts.BackoffBase = DefaultBackoffBase
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = max(DefaultBackoffMax, opts.BackoffBase)
	}
	switch {
	case opts.MinInterval < 0 || opts.MaxInterval < 0 || opts.BackoffBase < 0:
		return nil, fmt.Errorf("runner: negative interval in %+v", opts)
	case opts.MaxInterval > 0 && opts.MaxInterval < opts.MinInterval:
		return nil, fmt.Errorf("runner: max interval %v is below min interval %v", opts.MaxInterval, opts.MinInterval)
	case opts.BackoffMax < opts.BackoffBase:
		return nil, fmt.Errorf("runner: backoff cap %v is below backoff base %v", opts.BackoffMax, opts.BackoffBase)
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	return &Runner{
		fn:       fn,
		clock:    opts.Clock,
		onResult: opts.OnResult,
		wake:     make(chan struct{}, 1),
		sched: schedule{
			minInterval: opts.MinInterval,
			maxInterval: opts.MaxInterval,
			backoffBase: opts.BackoffBase,
			backoffMax:  opts.BackoffMax,
		},
	}, nil
}

// Trigger asks for a run and returns at once. The run starts as soon as the
// minimum interval allows; triggers that arrive before it starts share it.
func (r *Runner) Trigger(reason string) {
	r.mu.Lock()
	r.sched.trigger(reason)
	r.mu.Unlock()
	r.signal()
}

func (r *Runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// RunNow asks for a run like Trigger, then waits until a run that started
// after the call has finished and returns that run's error. If a run is in
// progress it waits for that one and then one more, since the one in
// progress may have read its inputs before the caller's change. It returns
// ctx's error if ctx ends first (the run still happens), and ErrStopped if
// the loop ends first.
func (r *Runner) RunNow(ctx context.Context, reason string) error {
	done := make(chan error, 1)
	r.mu.Lock()
	if r.state == loopStopped {
		r.mu.Unlock()
		return ErrStopped
	}
	r.waiters = append(r.waiters, done)
	r.sched.trigger(reason)
	r.mu.Unlock()
	r.signal()

	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		r.mu.Lock()
		if i := slices.Index(r.waiters, done); i >= 0 {
			r.waiters = slices.Delete(r.waiters, i, i+1)
		}
		r.mu.Unlock()
		return ctx.Err()
	}
}

// Loop runs the Func whenever it is due until ctx is done, then returns nil.
// A run in progress is given ctx and is waited for. Nothing runs at start
// until something triggers; periodic runs count from the start of Loop.
// Loop may be called once per Runner.
func (r *Runner) Loop(ctx context.Context) error {
	r.mu.Lock()
	if r.state != loopNotStarted {
		r.mu.Unlock()
		return errors.New("runner: Loop called twice")
	}
	r.state = loopRunning
	r.sched.epoch = r.clock.Now()
	r.mu.Unlock()
	defer r.stop()

	var (
		timer    Timer
		timerDue time.Time
	)
	stopTimer := func() {
		if timer != nil {
			timer.Stop()
			timer = nil
		}
	}
	defer stopTimer()

	for {
		if ctx.Err() != nil {
			return nil
		}
		now := r.clock.Now()
		r.mu.Lock()
		due, scheduled := r.sched.next()
		if scheduled && !now.Before(due) {
			r.run(ctx, now) // unlocks r.mu
			continue
		}
		r.mu.Unlock()

		var fire <-chan time.Time
		if scheduled {
			// Keep a timer that is already set for the same time, so that a
			// wake-up that changed nothing does not move it.
			if timer == nil || !due.Equal(timerDue) {
				stopTimer()
				timer, timerDue = r.clock.NewTimer(due.Sub(now)), due
			}
			fire = timer.C()
		} else {
			stopTimer()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-fire:
			timer = nil
		}
	}
}

// run performs one run that starts at now. It is called with r.mu held and
// releases it.
func (r *Runner) run(ctx context.Context, now time.Time) {
	reasons := r.sched.start(now)
	waiters := r.waiters
	r.waiters = nil
	r.mu.Unlock()

	err := r.fn(ctx, reasons)
	end := r.clock.Now()

	r.mu.Lock()
	retryIn := r.sched.finish(end, err)
	failures := r.sched.failures
	r.mu.Unlock()

	for _, w := range waiters {
		w <- err // buffered: never blocks, even if the waiter gave up
	}
	if r.onResult != nil {
		r.onResult(Result{Reasons: reasons, Started: now, Finished: end, Err: err, Failures: failures, RetryIn: retryIn})
	}
}

// stop marks the loop ended and releases every RunNow waiting for a run.
func (r *Runner) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state = loopStopped
	for _, w := range r.waiters {
		w <- ErrStopped
	}
	r.waiters = nil
}

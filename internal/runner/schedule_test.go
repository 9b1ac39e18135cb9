package runner

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// op is one step of a scripted schedule: a trigger, or a run that starts at
// start and ends at end with err.
type op struct {
	trigger string
	run     bool
	start   time.Duration
	end     time.Duration
	err     error

	// What next() must say after the step ("none" when nothing is due).
	wantDue string
	// For runs: the reasons start returned and the retry delay finish returned.
	wantReasons []string
	wantRetryIn time.Duration
}

func trig(reason, wantDue string) op { return op{trigger: reason, wantDue: wantDue} }

func run(start, end time.Duration, err error, reasons []string, retryIn time.Duration, wantDue string) op {
	return op{run: true, start: start, end: end, err: err, wantReasons: reasons, wantRetryIn: retryIn, wantDue: wantDue}
}

func dueString(s *schedule) string {
	due, ok := s.next()
	switch {
	case !ok:
		return "none"
	case due.IsZero():
		return "now"
	}
	return due.Sub(t0).String()
}

func TestSchedule(t *testing.T) {
	fail := errors.New("kernel said no")
	tests := []struct {
		name                string
		min, max, base, cap time.Duration
		ops                 []op
	}{
		{
			name: "nothing scheduled without triggers or periodic runs",
			min:  time.Second, base: time.Second, cap: time.Minute,
			ops: []op{
				run(0, 0, nil, nil, 0, "none"),
			},
		},
		{
			name: "first trigger runs at once, the next waits for the minimum interval",
			min:  time.Second, base: time.Second, cap: time.Minute,
			ops: []op{
				trig("a", "now"),
				trig("b", "now"),
				trig("a", "now"),
				run(0, 100*time.Millisecond, nil, []string{"a", "b"}, 0, "none"),
				trig("c", "1s"),
				run(time.Second, time.Second, nil, []string{"c"}, 0, "none"),
				// A quiet period longer than the minimum interval: due at once,
				// reported as the earliest allowed time, which is already past.
				trig("d", "2s"),
				run(5*time.Second, 5*time.Second, nil, []string{"d"}, 0, "none"),
			},
		},
		{
			name: "maximum interval forces periodic runs, counted from the last start",
			min:  time.Second, max: 10 * time.Second, base: time.Second, cap: time.Minute,
			ops: []op{
				trig("a", "now"),
				run(3*time.Second, 4*time.Second, nil, []string{"a"}, 0, "13s"),
				run(13*time.Second, 13*time.Second, nil, []string{ReasonResync}, 0, "23s"),
				trig("b", "14s"),
				run(14*time.Second, 14*time.Second, nil, []string{"b"}, 0, "24s"),
			},
		},
		{
			name: "periodic run before the first run counts from the epoch",
			min:  time.Second, max: 10 * time.Second, base: time.Second, cap: time.Minute,
			ops: []op{
				run(10*time.Second, 10*time.Second, nil, []string{ReasonResync}, 0, "20s"),
			},
		},
		{
			name: "backoff doubles, caps, resets on success",
			min:  0, base: time.Second, cap: 5 * time.Second,
			ops: []op{
				trig("a", "now"),
				run(0, 0, fail, []string{"a"}, time.Second, "1s"),
				run(time.Second, time.Second, fail, []string{ReasonRetry}, 2*time.Second, "3s"),
				run(3*time.Second, 3*time.Second, fail, []string{ReasonRetry}, 4*time.Second, "7s"),
				run(7*time.Second, 7*time.Second, fail, []string{ReasonRetry}, 5*time.Second, "12s"),
				run(12*time.Second, 12*time.Second, fail, []string{ReasonRetry}, 5*time.Second, "17s"),
				run(17*time.Second, 17*time.Second, nil, []string{ReasonRetry}, 0, "none"),
				trig("b", "17s"),
				run(20*time.Second, 20*time.Second, fail, []string{"b"}, time.Second, "21s"),
			},
		},
		{
			name: "backoff counts from the end of the failed run",
			min:  0, base: time.Second, cap: time.Minute,
			ops: []op{
				trig("a", "now"),
				run(0, 3*time.Second, fail, []string{"a"}, time.Second, "4s"),
			},
		},
		{
			name: "a retry never comes sooner than the minimum interval",
			min:  5 * time.Second, base: time.Second, cap: time.Minute,
			ops: []op{
				trig("a", "now"),
				run(0, time.Second, fail, []string{"a"}, 4*time.Second, "5s"),
			},
		},
		{
			name: "a trigger during backoff runs at the minimum interval and counts as the retry",
			min:  time.Second, base: 10 * time.Second, cap: time.Minute,
			ops: []op{
				trig("a", "now"),
				run(0, 0, fail, []string{"a"}, 10*time.Second, "10s"),
				trig("b", "1s"),
				run(time.Second, time.Second, fail, []string{"b"}, 20*time.Second, "21s"),
				run(21*time.Second, 21*time.Second, nil, []string{ReasonRetry}, 0, "none"),
			},
		},
		{
			name: "while failing the retry replaces the periodic run",
			min:  time.Second, max: 2 * time.Second, base: 10 * time.Second, cap: time.Minute,
			ops: []op{
				trig("a", "now"),
				run(0, 0, fail, []string{"a"}, 10*time.Second, "10s"),
				run(10*time.Second, 10*time.Second, nil, []string{ReasonRetry}, 0, "12s"),
				run(12*time.Second, 12*time.Second, nil, []string{ReasonResync}, 0, "14s"),
			},
		},
		{
			name: "empty reason is named",
			min:  time.Second, base: time.Second, cap: time.Minute,
			ops: []op{
				trig("", "now"),
				run(0, 0, nil, []string{"unspecified"}, 0, "none"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &schedule{minInterval: tt.min, maxInterval: tt.max, backoffBase: tt.base, backoffMax: tt.cap, epoch: t0}
			for i, o := range tt.ops {
				if o.run {
					gotReasons := s.start(at(o.start))
					if diff := cmp.Diff(o.wantReasons, gotReasons); diff != "" {
						t.Errorf("step %d: reasons (-want +got):\n%s", i, diff)
					}
					if got := s.finish(at(o.end), o.err); got != o.wantRetryIn {
						t.Errorf("step %d: retry in %v, want %v", i, got, o.wantRetryIn)
					}
				} else {
					s.trigger(o.trigger)
				}
				if got := dueString(s); got != o.wantDue {
					t.Errorf("step %d: next due %s, want %s", i, got, o.wantDue)
				}
			}
		})
	}
}

func TestScheduleReasonsAreBounded(t *testing.T) {
	s := &schedule{minInterval: time.Second, backoffBase: time.Second, backoffMax: time.Second}
	var want []string
	for i := range maxReasons + 5 {
		r := fmt.Sprintf("event %d", i)
		s.trigger(r)
		s.trigger(r)
		if i < maxReasons {
			want = append(want, r)
		}
	}
	want = append(want, "10 more triggers") // each of the 5 extra reasons twice
	if diff := cmp.Diff(want, s.start(t0)); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
	s.trigger("again")
	if diff := cmp.Diff([]string{"again"}, s.start(at(time.Second))); diff != "" {
		t.Errorf("reasons after a run (-want +got):\n%s", diff)
	}
}

func TestBackoffDoesNotOverflow(t *testing.T) {
	s := &schedule{backoffBase: time.Second, backoffMax: time.Hour}
	for _, n := range []int{1, 2, 12, 13, 100, 1 << 20} {
		d := s.backoff(n)
		if d <= 0 || d > time.Hour {
			t.Errorf("backoff(%d) = %v, want within (0, 1h]", n, d)
		}
	}
	if got := s.backoff(100); got != time.Hour {
		t.Errorf("backoff(100) = %v, want the cap 1h", got)
	}
}

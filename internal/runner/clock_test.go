package runner

import (
	"testing"
	"time"
)

func fired(tm Timer) bool {
	select {
	case <-tm.C():
		return true
	default:
		return false
	}
}

func TestFakeClockTimers(t *testing.T) {
	c := NewFakeClock(t0)
	a := c.NewTimer(time.Second)
	b := c.NewTimer(2 * time.Second)
	stopped := c.NewTimer(time.Second)
	if !stopped.Stop() {
		t.Error("Stop of a pending timer returned false")
	}
	if got := c.Timers(); got != 2 {
		t.Errorf("Timers() = %d, want 2", got)
	}

	c.Advance(999 * time.Millisecond)
	if fired(a) || fired(b) {
		t.Fatal("a timer fired before its deadline")
	}
	c.Advance(time.Millisecond)
	if !fired(a) {
		t.Error("timer did not fire at its deadline")
	}
	if fired(b) || fired(stopped) {
		t.Error("a later or stopped timer fired")
	}
	if a.Stop() {
		t.Error("Stop of a fired timer returned true")
	}
	c.Advance(time.Hour)
	if !fired(b) {
		t.Error("timer did not fire when the clock jumped past its deadline")
	}
	if got, want := c.Now(), t0.Add(time.Hour+time.Second); !got.Equal(want) {
		t.Errorf("Now() = %v, want %v", got, want)
	}
	if !fired(c.NewTimer(0)) {
		t.Error("a timer for 0 did not fire at once")
	}
}

func TestFakeTimerStopDropsAFiredValue(t *testing.T) {
	c := NewFakeClock(t0)
	tm := c.NewTimer(time.Second)
	c.Advance(time.Second)
	tm.Stop()
	if fired(tm) {
		t.Error("a value was received after Stop")
	}
}

func TestSystemClock(t *testing.T) {
	var c Clock = SystemClock{}
	tm := c.NewTimer(time.Millisecond)
	defer tm.Stop()
	before := c.Now()
	got := <-tm.C()
	if got.Before(before.Add(-time.Second)) {
		t.Errorf("timer delivered %v, long before %v", got, before)
	}
}

// Package notify tells systemd how the daemon is doing over the sd_notify
// protocol (Type=notify): ready after the first reconcile, reloading and ready
// again around a reload, the watchdog keep-alive, and stopping. Every call is
// a no-op when NOTIFY_SOCKET is unset, so the daemon runs the same way under
// systemd, in a container or in a terminal.
package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends state changes to the service manager. The zero value is
// ready to use; it reads NOTIFY_SOCKET on every call, as sd_notify(3) does.
type Notifier struct{}

// New returns a Notifier.
func New() *Notifier { return &Notifier{} }

// Ready says that the daemon is up (after its first reconcile) or done with a
// reload, whatever its outcome; status is the one line `systemctl status`
// shows.
func (n *Notifier) Ready(status string) error {
	return n.send(daemon.SdNotifyReady + "\nSTATUS=" + oneLine(status))
}

// Reloading says that a reload has begun. RELOADING=1 and MONOTONIC_USEC
// travel in one datagram: systemd 253+ matches the reload to the timestamp
// and ignores a RELOADING=1 without one. Ready must follow when the reload
// is over.
func (n *Notifier) Reloading() error {
	// SdNotifyMonotonicUsec ends in a newline, which the protocol allows
	// but which would make the datagram differ from the others.
	usec := strings.TrimSuffix(daemon.SdNotifyMonotonicUsec(), "\n")
	if usec == "" {
		return n.send(daemon.SdNotifyReloading)
	}
	return n.send(daemon.SdNotifyReloading + "\n" + usec)
}

// Status updates the one line `systemctl status` shows, without changing
// the service state.
func (n *Notifier) Status(text string) error {
	return n.send("STATUS=" + oneLine(text))
}

// Watchdog is the keep-alive for WatchdogSec=; the daemon sends it from its
// main loop so that a stuck loop, not only a dead process, gets restarted.
func (n *Notifier) Watchdog() error {
	return n.send(daemon.SdNotifyWatchdog)
}

// Stopping says that the daemon is shutting down.
func (n *Notifier) Stopping() error {
	return n.send(daemon.SdNotifyStopping)
}

func (n *Notifier) send(state string) error {
	if _, err := daemon.SdNotify(false, state); err != nil {
		first, _, _ := strings.Cut(state, "\n")
		return fmt.Errorf("notify systemd (%s): %w", first, err)
	}
	return nil
}

// oneLine keeps a STATUS= value on one line: a newline would end the
// assignment and turn the rest of the text into bogus assignments.
func oneLine(s string) string {
	var lines []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// WatchdogInterval returns how often the daemon should send WATCHDOG=1: half
// of the WATCHDOG_USEC that systemd set, the margin sd_watchdog_enabled(3)
// recommends. It returns 0 when the watchdog is off or meant for another
// process (WATCHDOG_PID).
func WatchdogInterval() (time.Duration, error) {
	timeout, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0, fmt.Errorf("systemd watchdog: %w", err)
	}
	return timeout / 2, nil
}

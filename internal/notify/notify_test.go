package notify_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/internal/notify"
	"github.com/mptcpd/mptcpd/internal/notify/notifytest"
)

func TestDatagrams(t *testing.T) {
	tests := []struct {
		name  string
		calls func(n *notify.Notifier) error
		want  []string
	}{
		{
			name: "start",
			calls: func(n *notify.Notifier) error {
				return n.Ready("running: 3 endpoints installed")
			},
			want: []string{"READY=1\nSTATUS=running: 3 endpoints installed"},
		},
		{
			name: "reload applied",
			calls: func(n *notify.Notifier) error {
				if err := n.Reloading(); err != nil {
					return err
				}
				return n.Ready("applied /etc/mptcpd.yaml: 2 changes")
			},
			want: []string{
				"RELOADING=1\nMONOTONIC_USEC=N",
				"READY=1\nSTATUS=applied /etc/mptcpd.yaml: 2 changes",
			},
		},
		{
			name: "reload rejected",
			calls: func(n *notify.Notifier) error {
				if err := n.Reloading(); err != nil {
					return err
				}
				return n.Ready("rejected: /etc/mptcpd.yaml:3:5: unknown key \"flagz\"")
			},
			want: []string{
				"RELOADING=1\nMONOTONIC_USEC=N",
				"READY=1\nSTATUS=rejected: /etc/mptcpd.yaml:3:5: unknown key \"flagz\"",
			},
		},
		{
			name:  "stop",
			calls: func(n *notify.Notifier) error { return n.Stopping() },
			want:  []string{"STOPPING=1"},
		},
		{
			name:  "watchdog",
			calls: func(n *notify.Notifier) error { return n.Watchdog() },
			want:  []string{"WATCHDOG=1"},
		},
		{
			name:  "status only",
			calls: func(n *notify.Notifier) error { return n.Status("backing off: endpoint 192.0.2.10 keeps coming back") },
			want:  []string{"STATUS=backing off: endpoint 192.0.2.10 keeps coming back"},
		},
		{
			name: "multi-line status stays one assignment",
			calls: func(n *notify.Notifier) error {
				return n.Ready("rejected:\n  a.yaml:1:1: bad\r\n  a.yaml:2:1: worse\n")
			},
			want: []string{"READY=1\nSTATUS=rejected:; a.yaml:1:1: bad; a.yaml:2:1: worse"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := notifytest.Listen(t)
			sock.Setenv(t)
			if err := tt.calls(notify.New()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := sock.NextN(ctx, len(tt.want))
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i] = notifytest.Scrub(got[i])
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("datagrams (-want +got):\n%s", diff)
			}
			if all := sock.Received(); len(all) != len(tt.want) {
				t.Errorf("received %d datagrams, want %d: %q", len(all), len(tt.want), all)
			}
		})
	}
}

// MONOTONIC_USEC must be CLOCK_MONOTONIC in microseconds, or systemd 253+
// does not match it to the reload it is waiting for.
func TestReloadingClock(t *testing.T) {
	sock := notifytest.Listen(t)
	sock.Setenv(t)
	before := monotonicUsec(t)
	if err := notify.New().Reloading(); err != nil {
		t.Fatal(err)
	}
	after := monotonicUsec(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := sock.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(d, "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("datagram %q, want RELOADING=1 and MONOTONIC_USEC=<n> together", d)
	}
	usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
	if err != nil {
		t.Fatalf("MONOTONIC_USEC in %q: %v", d, err)
	}
	if usec < before || usec > after {
		t.Errorf("MONOTONIC_USEC=%d, want a CLOCK_MONOTONIC reading between %d and %d", usec, before, after)
	}
}

func monotonicUsec(t *testing.T) int64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano() / 1000
}

func TestWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := notify.New()
	for name, call := range map[string]func() error{
		"Ready":     func() error { return n.Ready("up") },
		"Reloading": n.Reloading,
		"Status":    func() error { return n.Status("x") },
		"Watchdog":  n.Watchdog,
		"Stopping":  n.Stopping,
	} {
		if err := call(); err != nil {
			t.Errorf("%s without NOTIFY_SOCKET: %v, want no-op", name, err)
		}
	}
}

func TestSocketGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone")
	t.Setenv("NOTIFY_SOCKET", path)
	err := notify.New().Ready("up")
	if err == nil {
		t.Fatalf("Ready with NOTIFY_SOCKET=%s (no such socket) succeeded", path)
	}
	if !strings.Contains(err.Error(), "READY=1") {
		t.Errorf("error %q does not say which notification failed", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	tests := []struct {
		name    string
		usec    string
		pid     string
		want    time.Duration
		wantErr bool
	}{
		{name: "off", usec: "", pid: "", want: 0},
		{name: "for this process", usec: "20000000", pid: self, want: 10 * time.Second},
		{name: "no pid given", usec: "3000000", pid: "", want: 1500 * time.Millisecond},
		{name: "for another process", usec: "20000000", pid: strconv.Itoa(os.Getpid() + 1), want: 0},
		{name: "garbage", usec: "soon", pid: "", wantErr: true},
		{name: "zero", usec: "0", pid: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			got, err := notify.WatchdogInterval()
			if (err != nil) != tt.wantErr {
				t.Fatalf("WatchdogInterval() error %v, want error: %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("WatchdogInterval() = %v, want %v", got, tt.want)
			}
		})
	}
}

package control

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	t0      = time.Date(2025, 3, 4, 5, 0, 0, 0, time.UTC)
	goodSum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	badSum  = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

// fullStatus has every part of a status filled in.
func fullStatus() Status {
	return Status{
		Daemon: Daemon{PID: 4242, StartedAt: t0, Version: "1.2.0"},
		LastRun: &Run{
			StartedAt: t0.Add(89*time.Minute + 50*time.Second),
			Duration:  12345 * time.Microsecond,
			Result:    RunError,
			Changes:   2,
			Reasons:   []string{"config changed", "link eth1 up"},
			Errors:    []string{"add endpoint 192.0.2.30: file exists (kernel: address already in use)"},
		},
		Config: &Config{Path: "/etc/mptcpd.yaml", SHA256: goodSum, LoadedAt: t0.Add(time.Hour)},
		Rejected: &RejectedConfig{
			Path:       "/etc/mptcpd.yaml",
			SHA256:     badSum,
			RejectedAt: t0.Add(80 * time.Minute),
			Errors: []string{
				`/etc/mptcpd.yaml:3:5: unknown key "flagz" (did you mean "flags"?)`,
				`/etc/mptcpd.yaml:9:12: limits.subflows: 9 is above the kernel's maximum of 8`,
			},
		},
		Endpoints: []Endpoint{
			{Address: netip.MustParseAddr("192.0.2.10"), Dev: "eth1", Flags: []string{"subflow", "backup"}, State: Installed, ID: 10},
			{Address: netip.MustParseAddr("2001:db8::10"), Port: 20000, Flags: []string{"signal"}, State: Withheld, Reason: "link down"},
			{Address: netip.MustParseAddr("10.0.0.5"), Interface: "wlan0", Flags: []string{"subflow"}, State: Installed, ID: 3},
			{Address: netip.MustParseAddr("fe80::1"), Interface: "wlan0", State: Withheld, Reason: "tentative"},
		},
		Limits: []Limit{
			{Name: "subflows", Desired: 2, Actual: 2},
			{Name: "add_addr_accepted", Desired: 2, Actual: 0},
		},
		Sysctls: []Sysctl{
			{Name: "net.mptcp.enabled", Desired: "1", Actual: "1"},
			{Name: "net.mptcp.path_manager", Desired: "kernel", Actual: "kernel"},
		},
		Fights: []Fight{
			{Key: "endpoint 192.0.2.30", Count: 5, Culprit: "NetworkManager", BackoffUntil: t0.Add(100 * time.Minute)},
			{Key: "limits", Count: 1},
		},
	}
}

func TestWriteStatus(t *testing.T) {
	now := t0.Add(90 * time.Minute)
	tests := []struct {
		name   string
		status Status
		want   string
	}{
		{
			name:   "everything",
			status: fullStatus(),
			want: `mptcpd 1.2.0, pid 4242, up 1h30m (since 2025-03-04 05:00:00 UTC), 0 runs
config     /etc/mptcpd.yaml (sha256 0123456789ab), loaded 2025-03-04 06:00:00 UTC
rejected   /etc/mptcpd.yaml (sha256 fedcba987654) at 2025-03-04 06:20:00 UTC; the config above stays in force:
             /etc/mptcpd.yaml:3:5: unknown key "flagz" (did you mean "flags"?)
             /etc/mptcpd.yaml:9:12: limits.subflows: 9 is above the kernel's maximum of 8
last run   2025-03-04 06:29:50 UTC (10s ago), took 12ms: error, 2 changes
             why: config changed, link eth1 up
             error: add endpoint 192.0.2.30: file exists (kernel: address already in use)
limits     subflows=2, add_addr_accepted=2 (kernel has 0)
sysctls    net.mptcp.enabled=1, net.mptcp.path_manager=kernel

endpoints
  ID  ADDRESS       PORT   DEV    FLAGS           STATE
  10  192.0.2.10           eth1   subflow,backup  installed
  -   2001:db8::10  20000         signal          withheld: link down
  3   10.0.0.5             wlan0  subflow         installed
  -   fe80::1              wlan0  -               withheld: tentative

fights
  endpoint 192.0.2.30: undone 5 times, probably NetworkManager, left alone until 2025-03-04 06:40:00 UTC
  limits: undone 1 time
`,
		},
		{
			name: "just started",
			status: Status{
				Daemon: Daemon{PID: 7, StartedAt: now.Add(-3 * time.Second), Version: ""},
			},
			want: `mptcpd unknown, pid 7, up 3s (since 2025-03-04 06:29:57 UTC), 0 runs
config     none loaded yet
last run   none yet
limits     not managed
sysctls    not managed

endpoints  none
`,
		},
		{
			name: "rejected at startup, quick clean run",
			status: Status{
				Daemon:   Daemon{PID: 7, StartedAt: now.Add(-50 * time.Hour), Version: "1.2.0"},
				LastRun:  &Run{StartedAt: now.Add(-time.Minute), Duration: 850 * time.Microsecond, Result: RunOK, Changes: 1},
				Rejected: &RejectedConfig{Path: "/etc/mptcpd.yaml", SHA256: badSum, RejectedAt: now.Add(-2 * time.Minute), Errors: []string{"/etc/mptcpd.yaml:1:1: not a mapping"}},
				Fights:   []Fight{{Key: "endpoint 192.0.2.1", Count: 2, BackoffUntil: now.Add(-time.Second)}},
			},
			want: `mptcpd 1.2.0, pid 7, up 2d2h (since 2025-03-02 04:30:00 UTC), 0 runs
config     none loaded yet
rejected   /etc/mptcpd.yaml (sha256 fedcba987654) at 2025-03-04 06:28:00 UTC; no config is in force:
             /etc/mptcpd.yaml:1:1: not a mapping
last run   2025-03-04 06:29:00 UTC (1m0s ago), took 850µs: ok, 1 change
limits     not managed
sysctls    not managed

endpoints  none

fights
  endpoint 192.0.2.1: undone 2 times
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := WriteStatus(&b, tt.status, now); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("status text (-want +got):\n%s", diff)
			}
		})
	}
}

// Times are shown in the caller's zone, whatever zone the daemon used.
func TestWriteStatusZone(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	s := Status{Daemon: Daemon{PID: 1, StartedAt: t0, Version: "v"}}
	var b strings.Builder
	if err := WriteStatus(&b, s, t0.Add(time.Minute).In(paris)); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(b.String(), "\n")
	if want := "mptcpd v, pid 1, up 1m0s (since 2025-03-04 06:00:00 CET), 0 runs"; first != want {
		t.Errorf("first line %q, want %q", first, want)
	}
}

func TestWriteReload(t *testing.T) {
	tests := []struct {
		name   string
		result ReloadResult
		want   string
	}{
		{
			name:   "applied",
			result: ReloadResult{Result: Applied, Path: "/etc/mptcpd.yaml", SHA256: goodSum, Changes: 2},
			want:   "applied /etc/mptcpd.yaml (sha256 0123456789ab): 2 changes\n",
		},
		{
			name:   "applied, nothing to do",
			result: ReloadResult{Result: Applied, Path: "/etc/mptcpd.yaml", SHA256: goodSum},
			want:   "applied /etc/mptcpd.yaml (sha256 0123456789ab): no changes needed\n",
		},
		{
			name: "rejected",
			result: ReloadResult{Result: Rejected, Path: "/etc/mptcpd.yaml", SHA256: badSum, Errors: []string{
				`/etc/mptcpd.yaml:3:5: unknown key "flagz" (did you mean "flags"?)`,
			}},
			want: "rejected /etc/mptcpd.yaml (sha256 fedcba987654); the previous config stays in force:\n" +
				"  /etc/mptcpd.yaml:3:5: unknown key \"flagz\" (did you mean \"flags\"?)\n",
		},
		{
			name:   "rejected, unreadable",
			result: ReloadResult{Result: Rejected, Path: "/etc/mptcpd.yaml", Errors: []string{"open /etc/mptcpd.yaml: no such file or directory"}},
			want:   "rejected /etc/mptcpd.yaml; the previous config stays in force:\n  open /etc/mptcpd.yaml: no such file or directory\n",
		},
		{
			name: "failed",
			result: ReloadResult{Result: Failed, Path: "/etc/mptcpd.yaml", SHA256: goodSum, Changes: 1, Errors: []string{
				"add endpoint 192.0.2.30 id 4: address in use (kernel: EEXIST)",
			}},
			want: "failed to apply /etc/mptcpd.yaml (sha256 0123456789ab) fully (it is in force): 1 change made, 1 error:\n" +
				"  add endpoint 192.0.2.30 id 4: address in use (kernel: EEXIST)\n",
		},
		{
			name:   "from a newer daemon",
			result: ReloadResult{Result: "postponed", Path: "/etc/mptcpd.yaml"},
			want:   "reload of /etc/mptcpd.yaml ended in \"postponed\"\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := WriteReload(&b, tt.result); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("reload text (-want +got):\n%s", diff)
			}
			if got, want := tt.result.OK(), tt.result.Result == Applied; got != want {
				t.Errorf("OK() = %v, want %v", got, want)
			}
		})
	}
}

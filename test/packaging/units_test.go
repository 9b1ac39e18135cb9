package packaging

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/internal/host"
	"github.com/mptcpd/mptcpd/pkg/config"
)

// maxExposure is the highest `systemd-analyze security` exposure the units
// may have, in the tenths that --threshold takes (1.5).
const maxExposure = 15

// units are the shipped units, and a name to analyze each under (an
// instance for the template).
var units = []struct{ file, name string }{
	{"mptcpd.service", "mptcpd.service"},
	{"mptcpd@.service", "mptcpd@blue.service"},
}

// verifyUnits runs `systemd-analyze verify` on the units installed into a
// root directory that holds the packaged binary (verify checks that
// ExecStart= is executable), the host's own units (for the targets the units
// name) and the man pages (verify checks Documentation=man: with man).
// verify exits 0 on mere warnings (an unknown key, a bad value), so any
// output fails the test too.
func verifyUnits(t *testing.T, d dist) {
	requireTool(t, "systemd-analyze", "systemd")
	requireTool(t, "man", "man-db")
	root := repoRoot(t)
	tree := t.TempDir()
	unitDir := filepath.Join(tree, "usr/lib/systemd/system")
	for _, dir := range []string{"usr/sbin", "usr/share/man/man8", "usr/share/man/man5", "usr/lib/systemd"} {
		if err := os.MkdirAll(filepath.Join(tree, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, "", nil, "cp", "-a", "/usr/lib/systemd/system", unitDir)
	mustRun(t, "", nil, "cp", d.binary, filepath.Join(tree, "usr/sbin/mptcpd"))
	mustRun(t, "", nil, "cp", filepath.Join(d.man, "mptcpd.8.gz"), filepath.Join(tree, "usr/share/man/man8/"))
	mustRun(t, "", nil, "cp", filepath.Join(d.man, "mptcpd.yaml.5.gz"), filepath.Join(tree, "usr/share/man/man5/"))
	args := []string{"verify", "--root=" + tree}
	for _, u := range units {
		mustRun(t, "", nil, "cp", filepath.Join(root, "packaging/systemd", u.file), unitDir)
		args = append(args, u.name)
	}
	r := run(t, "/", []string{"MANPATH=" + filepath.Join(tree, "usr/share/man")}, "systemd-analyze", args...)
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("systemd-analyze %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
}

var overallExposure = regexp.MustCompile(`Overall exposure level for (\S+): (\d+\.\d)`)

// TestUnitSecurity holds each unit to an exposure of at most 1.5.
func TestUnitSecurity(t *testing.T) {
	requireTool(t, "systemd-analyze", "systemd")
	root := repoRoot(t)
	for _, u := range units {
		t.Run(u.name, func(t *testing.T) {
			// Analyze a copy named as the unit would be, so that %i of the
			// template has a value.
			file := filepath.Join(t.TempDir(), u.name)
			mustRun(t, "", nil, "cp", filepath.Join(root, "packaging/systemd", u.file), file)
			r := run(t, "", nil, "systemd-analyze", "security", "--offline=yes", "--threshold="+strconv.Itoa(maxExposure), file)
			m := overallExposure.FindStringSubmatch(r.stdout)
			if m == nil {
				t.Fatalf("no overall exposure in the output of systemd-analyze security (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
			}
			exposure, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: exposure %.1f", u.name, exposure)
			if r.code != 0 || exposure*10 > maxExposure {
				t.Errorf("%s: exposure %.1f (exit %d), want at most %.1f; the failing checks:\n%s",
					u.name, exposure, r.code, float64(maxExposure)/10, failedChecks(r.stdout))
			}
		})
	}
}

// failedChecks keeps the lines of the security table that cost exposure.
func failedChecks(out string) string {
	var b strings.Builder
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "✗") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// TestUnitSettings pins the settings the daemon's contract depends on, which
// systemd-analyze cannot know about.
func TestUnitSettings(t *testing.T) {
	root := repoRoot(t)
	instanceDir := filepath.Join(host.DefaultStateDir, "netns", "%i")
	// The units' state directories must be where the CLI looks for the
	// control socket (mptcpd status, mptcpd -n NAME reload), and the
	// RuntimeDirectory= that systemd creates and preserves.
	if got := host.StateDir("blue"); got != strings.ReplaceAll(instanceDir, "%i", "blue") {
		t.Fatalf("the CLI's state directory for -n blue is %s, the instance unit's %s", got, instanceDir)
	}
	tests := []struct {
		file string
		want map[string]string
	}{
		{"mptcpd.service", map[string]string{
			"Unit/Conflicts":                   "mptcp.service",
			"Unit/Documentation":               "man:mptcpd(8) man:mptcpd.yaml(5)",
			"Service/Type":                     "notify",
			"Service/NetworkNamespacePath":     "",
			"Service/ExecStart":                "/usr/sbin/mptcpd run",
			"Service/ExecReload":               "/usr/sbin/mptcpd reload",
			"Service/Restart":                  "on-failure",
			"Service/WatchdogSec":              "30s",
			"Service/RuntimeDirectory":         strings.TrimPrefix(host.DefaultStateDir, "/run/"),
			"Service/RuntimeDirectoryPreserve": "yes",
			"Service/CapabilityBoundingSet":    "CAP_NET_ADMIN",
			"Service/AmbientCapabilities":      "",
			"Service/RestrictAddressFamilies":  "AF_NETLINK AF_UNIX",
			"Service/ProtectKernelTunables":    "yes",
			"Service/ReadWritePaths":           "-/proc/sys/net/mptcp",
			"Service/ProtectSystem":            "strict",
			"Service/PrivateUsers":             "",
			"Install/WantedBy":                 "multi-user.target",
		}},
		{"mptcpd@.service", map[string]string{
			"Unit/Conflicts":                   "",
			"Unit/Documentation":               "man:mptcpd(8) man:mptcpd.yaml(5)",
			"Service/Type":                     "notify",
			"Service/NetworkNamespacePath":     "/run/netns/%i",
			"Service/ExecStart":                "/usr/sbin/mptcpd run -c /etc/mptcpd/%i.yaml --state-dir " + instanceDir,
			"Service/ExecReload":               "/usr/sbin/mptcpd reload --state-dir " + instanceDir,
			"Service/Restart":                  "on-failure",
			"Service/WatchdogSec":              "30s",
			"Service/RuntimeDirectory":         strings.TrimPrefix(instanceDir, "/run/"),
			"Service/RuntimeDirectoryPreserve": "yes",
			"Service/CapabilityBoundingSet":    "CAP_NET_ADMIN",
			"Service/AmbientCapabilities":      "",
			"Service/RestrictAddressFamilies":  "AF_NETLINK AF_UNIX",
			"Service/ProtectKernelTunables":    "yes",
			"Service/ReadWritePaths":           "-/proc/sys/net/mptcp",
			"Service/ProtectSystem":            "strict",
			"Service/PrivateUsers":             "",
			"Install/WantedBy":                 "multi-user.target",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			u := readUnit(t, filepath.Join(root, "packaging/systemd", tt.file))
			got := map[string]string{}
			for key := range tt.want {
				section, name, _ := strings.Cut(key, "/")
				got[key] = u.get(section, name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.file, diff)
			}
		})
	}
	// The host unit reads the CLI's default file.
	if config.DefaultPath != "/etc/mptcpd.yaml" {
		t.Errorf("mptcpd run reads %s by default; the unit, the package's conffile and the docs say /etc/mptcpd.yaml", config.DefaultPath)
	}
}

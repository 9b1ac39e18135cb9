package fleet

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// puppetModule is the example module's directory (the module path holds
// it as "mptcpd").
func puppetModule() string {
	return filepath.Join(repoRoot, "examples", "puppet", "mptcpd")
}

// TestPuppetParserValidate checks the module's manifests and template
// parse.
func TestPuppetParserValidate(t *testing.T) {
	t.Parallel()
	puppet := requireTool(t, "puppet", "puppet")
	dir := t.TempDir()
	manifests, err := filepath.Glob(filepath.Join(puppetModule(), "*", "*.pp"))
	if err != nil || len(manifests) < 2 {
		t.Fatalf("want the module's manifests and functions, found %v (%v)", manifests, err)
	}
	templates, err := filepath.Glob(filepath.Join(puppetModule(), "templates", "*.epp"))
	if err != nil || len(templates) == 0 {
		t.Fatalf("want the module's templates, found %v (%v)", templates, err)
	}
	for _, args := range [][]string{
		append([]string{"parser", "validate"}, manifests...),
		append([]string{"epp", "validate"}, templates...),
	} {
		args = append(args, puppetDirs(dir)...)
		if res := runTool(t, dir, []string{"HOME=" + dir}, puppet, args...); res.ExitCode != 0 {
			t.Errorf("puppet %s: exit %d:\n%s", strings.Join(args[:2], " "), res.ExitCode, res.Output)
		}
	}
}

// puppetDirs are the flags that keep puppet's own files in dir and away
// from /etc/puppet, /var/lib/puppet and /var/cache/puppet.
func puppetDirs(dir string) []string {
	var flags []string
	for _, name := range []string{"confdir", "vardir", "codedir", "logdir", "rundir", "publicdir", "ssldir"} {
		flags = append(flags, "--"+name, filepath.Join(dir, name))
	}
	return flags
}

// puppetApply is a `puppet apply` of class mptcpd from examples/puppet,
// with puppet's own files kept in a scratch directory.
type puppetApply struct {
	dir    string         // puppet's confdir, vardir, ... and HOME
	params map[string]any // the class's parameters
}

func newPuppetApply(t *testing.T, configPath string, d daemon) puppetApply {
	t.Helper()
	requireTool(t, "puppet", "puppet")
	cmdline := func(args []string) string {
		return strings.Join(append([]string{mptcpdBin}, args...), " ")
	}
	return puppetApply{
		dir: t.TempDir(),
		params: map[string]any{
			"config_path":    configPath,
			"binary":         mptcpdBin,
			"reload_command": cmdline(d.reloadArgs()),
			// No systemd here: the service is the daemon the test runs,
			// known to be running by its status.
			"service_name":     "mptcpd-" + d.ns,
			"service_provider": "base",
			"service_status":   cmdline(d.statusArgs()),
			"limits":           wantLimits,
			"endpoints":        wantEndpoints,
			"sysctl":           map[string]any{"enabled": 1},
			"ownership":        "exclusive",
		},
	}
}

// with returns a copy of a whose class parameter name is value.
func (a puppetApply) with(name string, value any) puppetApply {
	a.params = maps.Clone(a.params)
	a.params[name] = value
	return a
}

// run applies the class (with extra flags of puppet apply) and returns the
// result; its exit code is that of --detailed-exitcodes: 0 no change, 2
// changes, 4 failures, 6 both.
func (a puppetApply) run(t *testing.T, extra ...string) commandResult {
	t.Helper()
	var attrs []string
	for _, name := range slices.Sorted(maps.Keys(a.params)) {
		attrs = append(attrs, name+" => "+puppetValue(a.params[name]))
	}
	manifest := "class { 'mptcpd': " + strings.Join(attrs, ", ") + " }"
	args := append([]string{"apply", "--color=false", "--detailed-exitcodes",
		"--modulepath", filepath.Dir(puppetModule()), "-e", manifest}, puppetDirs(a.dir)...)
	return runTool(t, a.dir, []string{"HOME=" + a.dir}, "puppet", append(args, extra...)...)
}

// puppetHash writes the entries of m as the pairs of a Puppet Hash,
// sorted.
func puppetHash(m map[string]any) string {
	var pairs []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		pairs = append(pairs, puppetValue(k)+" => "+puppetValue(m[k]))
	}
	return strings.Join(pairs, ", ")
}

// puppetValue writes v as a Puppet literal.
func puppetValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "undef"
	case string:
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
	case int:
		return strconv.Itoa(v)
	case []string:
		return puppetArray(v)
	case []map[string]any:
		return puppetArray(v)
	case map[string]any:
		return "{" + puppetHash(v) + "}"
	default:
		panic(fmt.Sprintf("puppetValue: no Puppet literal for %T", v))
	}
}

func puppetArray[E any](vs []E) string {
	items := make([]string, len(vs))
	for i, v := range vs {
		items[i] = puppetValue(v)
	}
	return "[" + strings.Join(items, ", ") + "]"
}

// TestPuppetNoop checks that a noop run reports the file and the refresh it
// would make, and makes neither.
func TestPuppetNoop(t *testing.T) {
	t.Parallel()
	ns := newFleetNS(t)
	configPath := filepath.Join(t.TempDir(), "mptcpd.yaml")
	writeFile(t, configPath, []byte(initialConfig))
	d := startDaemon(t, ns, configPath)
	kernelBefore := readKernel(t, ns)

	res := newPuppetApply(t, configPath, d).run(t, "--noop")
	// With --noop, changes it would make are not changes made: exit 0.
	if res.ExitCode != 0 {
		t.Errorf("puppet apply --noop: exit %d, want 0:\n%s", res.ExitCode, res.Output)
	}
	for _, want := range []string{
		fmt.Sprintf("File[%s]/content: current_value '{sha256}", configPath),
		"(noop)",
		fmt.Sprintf("Service[mptcpd-%s]: Would have triggered 'refresh' from 1 event", ns),
	} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("puppet apply --noop does not report %q:\n%s", want, res.Output)
		}
	}
	if diff := cmp.Diff(initialConfig, string(readFile(t, configPath))); diff != "" {
		t.Errorf("noop changed the file (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(kernelBefore, readKernel(t, ns)); diff != "" {
		t.Errorf("noop changed the kernel (-want +got):\n%s", diff)
	}
}

// TestPuppetApply applies the class for real against temporary paths: the
// first run writes the file and refreshes the service (a synchronous
// reload of the test's daemon), the second changes nothing, and a value
// mptcpd rejects fails validate_cmd, leaving file and kernel as they were.
func TestPuppetApply(t *testing.T) {
	t.Parallel()
	ns := newFleetNS(t)
	configPath := filepath.Join(t.TempDir(), "mptcpd.yaml")
	writeFile(t, configPath, []byte(initialConfig))
	d := startDaemon(t, ns, configPath)
	good := newPuppetApply(t, configPath, d)

	res := good.run(t)
	if res.ExitCode != 2 || !strings.Contains(res.Output, "Triggered 'refresh'") {
		t.Fatalf("first apply: exit %d, want 2 (changes) and a refresh of the service:\n%s", res.ExitCode, res.Output)
	}
	if diff := cmp.Diff(wantKernel, readKernel(t, ns)); diff != "" {
		t.Errorf("kernel after the first apply (-want +got):\n%s", diff)
	}
	if res := good.run(t); res.ExitCode != 0 {
		t.Errorf("second apply: exit %d, want 0 (nothing to change):\n%s", res.ExitCode, res.Output)
	}

	before := readFile(t, configPath)
	kernelBefore := readKernel(t, ns)
	tests := []struct {
		name    string
		bad     puppetApply
		wantMsg string // from mptcpd check, in puppet's report
	}{{
		name:    "limit above 8",
		bad:     good.with("limits", map[string]any{"subflows": 9}),
		wantMsg: "subflows must be an integer 0..8",
	}, {
		name: "unknown flag",
		bad: good.with("endpoints", []map[string]any{
			{"address": addr0, "dev": link0, "flags": []string{"subflow", "turbo"}},
		}),
		wantMsg: `unknown flag "turbo"`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.bad.run(t)
			if res.ExitCode&4 == 0 {
				t.Errorf("exit %d, want a failure (4 or 6):\n%s", res.ExitCode, res.Output)
			}
			if strings.Contains(res.Output, "Triggered 'refresh'") {
				t.Errorf("the service was refreshed after a failed file:\n%s", res.Output)
			}
			if !strings.Contains(res.Output, tt.wantMsg) {
				t.Errorf("output does not show mptcpd check's %q:\n%s", tt.wantMsg, res.Output)
			}
			if diff := cmp.Diff(string(before), string(readFile(t, configPath))); diff != "" {
				t.Errorf("the file in place changed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(kernelBefore, readKernel(t, ns)); diff != "" {
				t.Errorf("the kernel changed (-want +got):\n%s", diff)
			}
		})
	}
}

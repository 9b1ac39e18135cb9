package fleet

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// playbook runs the example playbook and role of examples/ansible against
// the local machine, with the role's paths pointed at temporary files and
// at a daemon running on a test namespace.
type playbook struct {
	dir  string         // scratch directory: working directory, HOME, temp files
	vars map[string]any // extra variables
}

func newPlaybook(t *testing.T, configPath string, d daemon) playbook {
	t.Helper()
	requireTool(t, "ansible-playbook", "ansible")
	return playbook{
		dir: t.TempDir(),
		vars: map[string]any{
			"mptcpd_config_path":    configPath,
			"mptcpd_binary":         mptcpdBin,
			"mptcpd_reload_command": strings.Join(append([]string{mptcpdBin}, d.reloadArgs()...), " "),
			"mptcpd_limits":         wantLimits,
			"mptcpd_endpoints":      wantEndpoints,
			"mptcpd_sysctl":         map[string]any{"enabled": 1},
			"mptcpd_ownership":      "exclusive",
			// The play asks for root by sudo, as on a fleet; the test
			// already is root and the machine need not have sudo.
			"ansible_become": false,
		},
	}
}

// with returns a copy of p whose variable name is value.
func (p playbook) with(name string, value any) playbook {
	p.vars = maps.Clone(p.vars)
	p.vars[name] = value
	return p
}

// run runs ansible-playbook once and returns its result and PLAY RECAP.
func (p playbook) run(t *testing.T) (commandResult, recap) {
	t.Helper()
	data, err := json.Marshal(p.vars)
	if err != nil {
		t.Fatal(err)
	}
	varsPath := filepath.Join(p.dir, "vars.json")
	writeFile(t, varsPath, data)
	tmp := filepath.Join(p.dir, "tmp")
	env := []string{
		"HOME=" + p.dir,
		"ANSIBLE_LOCAL_TEMP=" + tmp,
		"ANSIBLE_REMOTE_TEMP=" + tmp,
		"ANSIBLE_ROLES_PATH=" + filepath.Join(repoRoot, "examples", "ansible", "roles"),
		"ANSIBLE_STDOUT_CALLBACK=default",
		"ANSIBLE_NOCOLOR=1",
		"ANSIBLE_RETRY_FILES_ENABLED=0",
		"ANSIBLE_PYTHON_INTERPRETER=auto_silent",
	}
	res := runTool(t, p.dir, env, "ansible-playbook",
		"-i", "localhost,", "-c", "local", "-e", "@"+varsPath,
		filepath.Join(repoRoot, "examples", "ansible", "site.yml"))
	return res, parseRecap(t, res.Output)
}

// recap is the PLAY RECAP line of the one host.
type recap struct {
	OK, Changed, Unreachable, Failed int
}

var recapLine = regexp.MustCompile(`(?m)^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

func parseRecap(t *testing.T, out string) recap {
	t.Helper()
	m := recapLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no PLAY RECAP for localhost in ansible-playbook's output:\n%s", out)
	}
	n := make([]int, 4)
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	return recap{OK: n[0], Changed: n[1], Unreachable: n[2], Failed: n[3]}
}

// TestAnsibleConverges runs the role twice: the first run renders the
// file, which passes validation, and the handler's synchronous reload has
// the daemon apply it; the second run changes nothing.
func TestAnsibleConverges(t *testing.T) {
	t.Parallel()
	ns := newFleetNS(t)
	configPath := filepath.Join(t.TempDir(), "mptcpd.yaml")
	writeFile(t, configPath, []byte(initialConfig))
	d := startDaemon(t, ns, configPath)
	p := newPlaybook(t, configPath, d)

	res, rc := p.run(t)
	if res.ExitCode != 0 || rc.Failed != 0 || rc.Changed == 0 {
		t.Fatalf("first run: exit %d, %+v; want exit 0, changes and no failure:\n%s", res.ExitCode, rc, res.Output)
	}
	// The handler waited for the daemon: the kernel is already there.
	if diff := cmp.Diff(wantKernel, readKernel(t, ns)); diff != "" {
		t.Errorf("kernel after the first run (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(configPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o644 {
		t.Errorf("%s has mode %v, want 0644", configPath, got)
	}
	if st, ok := fi.Sys().(interface{ Uid() uint32 }); ok && st.Uid() != 0 {
		t.Errorf("%s is owned by uid %d, want root", configPath, st.Uid())
	}
	if res := checkConfig(t, configPath); res.ExitCode != 0 {
		t.Errorf("the rendered file does not pass mptcpd check:\n%s", res.Output)
	}

	res, rc = p.run(t)
	if want := (recap{OK: 1}); res.ExitCode != 0 || rc != want {
		t.Errorf("second run: exit %d, %+v; want exit 0, %+v:\n%s", res.ExitCode, rc, want, res.Output)
	}
}

// TestAnsibleRejectsBadVariables checks that a variable mptcpd would
// reject fails the play at validation: the file in place stays byte for
// byte what it was and the kernel does not change.
func TestAnsibleRejectsBadVariables(t *testing.T) {
	t.Parallel()
	ns := newFleetNS(t)
	configPath := filepath.Join(t.TempDir(), "mptcpd.yaml")
	writeFile(t, configPath, []byte(initialConfig))
	d := startDaemon(t, ns, configPath)
	good := newPlaybook(t, configPath, d)
	if res, rc := good.run(t); res.ExitCode != 0 || rc.Failed != 0 {
		t.Fatalf("good run: exit %d, %+v:\n%s", res.ExitCode, rc, res.Output)
	}
	before := readFile(t, configPath)
	kernelBefore := readKernel(t, ns)

	tests := []struct {
		name    string
		bad     playbook
		wantMsg string // from mptcpd check, as the failed task shows it (JSON-escaped)
	}{{
		name:    "limit above 8",
		bad:     good.with("mptcpd_limits", map[string]any{"subflows": 9}),
		wantMsg: "subflows must be an integer 0..8",
	}, {
		name: "unknown flag",
		bad: good.with("mptcpd_endpoints", []map[string]any{
			{"address": addr0, "dev": link0, "flags": []string{"subflow", "turbo"}},
		}),
		wantMsg: `unknown flag \"turbo\"`,
	}, {
		name: "misspelt key",
		bad: good.with("mptcpd_endpoints", []map[string]any{
			{"address": addr0, "flag": []string{"subflow"}},
		}),
		wantMsg: `unknown key \"flag\"`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, rc := tt.bad.run(t)
			if res.ExitCode == 0 || rc.Failed != 1 {
				t.Errorf("exit %d, %+v; want a failed play:\n%s", res.ExitCode, rc, res.Output)
			}
			if !strings.Contains(res.Output, "failed to validate") || !strings.Contains(res.Output, tt.wantMsg) {
				t.Errorf("output does not show validation failing with %q:\n%s", tt.wantMsg, res.Output)
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

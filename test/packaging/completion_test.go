package packaging

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/internal/nstest"
)

// completionHarness stands in for the bash-completion helpers the script
// uses, so that the test needs bash only: _init_completion splits the line
// as bash-completion does for these words, and _filedir answers FILES (or
// DIRS with -d).
const completionHarness = `
_init_completion() {
	words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
	cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}
}
_filedir() { if [[ $1 == -d ]]; then COMPREPLY=(DIRS); else COMPREPLY=(FILES); fi; }
source "$1"
shift
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
_mptcpd
printf '%s\n' "${COMPREPLY[@]}"
`

// complete returns what the completion offers for line; the word being
// completed is the part after the last space.
func complete(t *testing.T, script, line string) []string {
	t.Helper()
	args := append([]string{"-c", completionHarness, "harness", script}, strings.Split(line, " ")...)
	out := mustRun(t, "", nil, "bash", args...)
	got := append([]string{}, strings.Fields(out)...)
	slices.Sort(got)
	return got
}

// sorted returns the distinct strings of s in order.
func sorted(s ...string) []string {
	s = append([]string{}, s...)
	slices.Sort(s)
	return slices.Compact(s)
}

// TestCompletion runs the bash completion on command lines; its commands
// and daemon options must be the ones the binary has.
func TestCompletion(t *testing.T) {
	requireTool(t, "bash", "bash")
	root := repoRoot(t)
	script := filepath.Join(root, "packaging/completion/mptcpd.bash")
	bin := buildMptcpd(t)
	commands := helpCommands(t, bin)
	flags := []string{"signal", "subflow", "backup", "fullmesh", "laminar"}

	tests := []struct {
		line string
		want []string
	}{
		{"mptcpd ", sorted(commands...)},
		{"mptcpd -n blue ", sorted(commands...)},
		{"mptcpd -j -p ", sorted(commands...)},
		{"mptcpd re", []string{"reload"}},
		{"mptcpd -", sorted("-netns", "-json", "-pretty", "-batch", "-force", "-help", "-Version")},
		{"mptcpd -batch ", []string{"FILES"}},
		{"mptcpd help ", sorted(commands...)},
		{"mptcpd endpoint ", sorted("add", "delete", "change", "show", "flush")},
		{"mptcpd endpoint add 192.0.2.1 ", sorted(append([]string{"dev", "id", "port"}, flags...)...)},
		{"mptcpd -n blue endp a 192.0.2.1 sub", []string{"subflow"}},
		{"mptcpd endpoint change id 3 ", sorted("id", "port", "backup", "nobackup", "fullmesh", "nofullmesh")},
		{"mptcpd endpoint add 192.0.2.1 id ", []string{}},
		{"mptcpd limits ", sorted("set", "show")},
		{"mptcpd limits set ", sorted("subflows", "add_addr_accepted")},
		{"mptcpd check -c ", []string{"FILES"}},
		{"mptcpd run --state-dir ", []string{"DIRS"}},
		{"mptcpd run -c /etc/mptcpd.yaml --log-level ", sorted("debug", "info", "warn", "error")},
		{"mptcpd run --log-format ", sorted("auto", "console", "json", "journal")},
		{"mptcpd status -o ", sorted("text", "json")},
		{"mptcpd show -o ", sorted("yaml", "json")},
		{"mptcpd plan -o ", sorted("text", "json")},
	}
	// Each command's options, as its --help lists them. status also takes
	// --timeout, as reload does, though its usage line leaves it out.
	for _, cmd := range []string{"run", "reload", "status", "plan", "check", "apply", "show"} {
		opts := helpOptions(t, bin, cmd)
		if cmd == "status" {
			opts = append(opts, "--timeout")
		}
		tests = append(tests, struct {
			line string
			want []string
		}{fmt.Sprintf("mptcpd %s -", cmd), sorted(opts...)})
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, complete(t, script, tt.line)); diff != "" {
				t.Errorf("completions of %q (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

// TestCompletionNetns completes -n with the namespaces under /run/netns, as
// ip names them.
func TestCompletionNetns(t *testing.T) {
	requireTool(t, "bash", "bash")
	ns := nstest.NewNS(t)
	script := filepath.Join(repoRoot(t), "packaging/completion/mptcpd.bash")
	prefix := ns[:len(ns)-2]
	for _, line := range []string{"mptcpd -n " + prefix, "mptcpd --netns " + prefix} {
		got := complete(t, script, line)
		if !slices.Contains(got, ns) {
			t.Errorf("completions of %q: %v, want them to include %s", line, got, ns)
		}
	}
}

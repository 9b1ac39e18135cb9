package packaging

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// helpCommands are the commands `mptcpd help` lists, in its order.
func helpCommands(t *testing.T, bin string) []string {
	t.Helper()
	out := mustRun(t, "", nil, bin, "help")
	_, rest, ok := strings.Cut(out, "\nCommands:\n")
	if !ok {
		t.Fatalf("mptcpd help has no Commands: section:\n%s", out)
	}
	var cmds []string
	for _, line := range strings.Split(rest, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			break
		}
		cmds = append(cmds, f[0])
	}
	if len(cmds) == 0 {
		t.Fatalf("mptcpd help lists no commands:\n%s", out)
	}
	return cmds
}

// optionInHelp finds an option at the start of a help line or in brackets
// of a usage line ("[--state-dir DIR]").
var optionInHelp = regexp.MustCompile(`(?m)(?:^\s+|\[)(--?[a-z][a-z-]*)[\s\]]`)

// helpOptions are the options a command's --help lists.
func helpOptions(t *testing.T, bin, command string) []string {
	t.Helper()
	out := mustRun(t, "", nil, bin, command, "--help")
	var opts []string
	for _, m := range optionInHelp.FindAllStringSubmatch(out, -1) {
		opts = append(opts, m[1])
	}
	if len(opts) == 0 {
		t.Fatalf("mptcpd %s --help lists no options:\n%s", command, out)
	}
	return opts
}

// TestManPages renders the man pages as `make man` does (which fails on any
// warning of go-md2man), formats them with man, and checks that mptcpd(8)
// documents every command and every daemon option the binary has.
func TestManPages(t *testing.T) {
	requireTool(t, "make", "make")
	requireTool(t, "man", "man-db")
	root := repoRoot(t)
	dir := t.TempDir()
	out := mustRun(t, root, nil, "make", "--no-print-directory", "man", "DIST="+dir)
	for _, page := range []string{"mptcpd.8", "mptcpd.yaml.5"} {
		t.Run(page, func(t *testing.T) {
			if !strings.Contains(out, "man: "+filepath.Join(dir, "man", page)) {
				t.Errorf("make man did not render %s:\n%s", page, out)
			}
			file := filepath.Join(dir, "man", page)
			r := run(t, "", []string{"MANWIDTH=80", "LC_ALL=C.UTF-8"}, "man", "--warnings", "-l", file)
			if r.code != 0 || r.stderr != "" {
				t.Errorf("man -l %s: exit %d\n%s", page, r.code, r.stderr)
			}
			name := page[:strings.LastIndex(page, ".")]
			nameLine := regexp.MustCompile(`NAME\n\s+` + regexp.QuoteMeta(name) + `\s+- `)
			if !nameLine.MatchString(r.stdout) || !strings.Contains(r.stdout, "SEE ALSO") {
				t.Errorf("%s formats without its NAME line (%s - ...) or SEE ALSO:\n%s", page, name, r.stdout)
			}
		})
	}

	bin := buildMptcpd(t)
	src, err := os.ReadFile(filepath.Join(root, "packaging/man/mptcpd.8.md"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(src)
	for _, cmd := range helpCommands(t, bin) {
		if !strings.Contains(page, "**"+cmd+"**") {
			t.Errorf("mptcpd.8.md does not document the command %s", cmd)
		}
	}
	for _, cmd := range []string{"run", "reload", "status", "plan"} {
		for _, opt := range helpOptions(t, bin, cmd) {
			if !strings.Contains(page, "**"+opt+"**") {
				t.Errorf("mptcpd.8.md does not document %s's option %s", cmd, opt)
			}
		}
	}
	// The instance unit's file and the daemon's files are where the page says.
	for _, path := range []string{"/etc/mptcpd.yaml", "/etc/mptcpd/NAME.yaml", "/run/mptcpd/control.sock", "/run/mptcpd/netns/NAME"} {
		if !slices.ContainsFunc(strings.Split(page, "\n"), func(l string) bool { return strings.Contains(l, path) }) {
			t.Errorf("mptcpd.8.md does not name %s", path)
		}
	}
}

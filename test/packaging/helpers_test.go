package packaging

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mptcpd/mptcpd/internal/testbin"
)

// repoRoot is the directory of the module's go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := testbin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// requireTool fails the test when a program it needs is missing, naming the
// Debian package that has it.
func requireTool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed by this test: install the %s package", name, debianPackage)
	}
	return p
}

// result is a finished command.
type result struct {
	stdout, stderr string
	code           int
}

// run runs a command in dir and returns its output and exit status; it fails
// the test only when the command cannot be started.
func run(t testing.TB, dir string, env []string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// runStdin runs a command with input on its standard input.
func runStdin(t testing.TB, input string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// mustRun is run for commands that must succeed.
func mustRun(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	r := run(t, dir, env, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// dist is the output of one `make package` run.
type dist struct {
	dir    string
	deb    string
	rpm    string
	binary string // the static mptcpd the packages hold
	man    string // rendered man pages (name.section and name.section.gz)
}

// makePackage runs `make package` into a temporary directory.
func makePackage(t testing.TB) dist {
	t.Helper()
	requireTool(t, "make", "make")
	root := repoRoot(t)
	d := dist{dir: t.TempDir()}
	mustRun(t, root, nil, "make", "--no-print-directory", "package", "DIST="+d.dir)
	debs, _ := filepath.Glob(filepath.Join(d.dir, "*.deb"))
	rpms, _ := filepath.Glob(filepath.Join(d.dir, "*.rpm"))
	if len(debs) != 1 || len(rpms) != 1 {
		t.Fatalf("make package made %d .deb and %d .rpm files in %s, want one of each", len(debs), len(rpms), d.dir)
	}
	d.deb, d.rpm = debs[0], rpms[0]
	d.binary = filepath.Join(d.dir, "build", "mptcpd")
	d.man = filepath.Join(d.dir, "man")
	return d
}

// unitFile is a parsed systemd unit: section -> key -> values, in order
// (a key may be given more than once).
type unitFile map[string]map[string][]string

func readUnit(t testing.TB, file string) unitFile {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	u := unitFile{}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: not a unit file line: %q", file, line)
			}
			u[section][key] = append(u[section][key], value)
		}
	}
	return u
}

// get is the last value of a key, as systemd reads single-valued keys.
func (u unitFile) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

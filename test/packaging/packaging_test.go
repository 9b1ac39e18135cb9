package packaging

import (
	"debug/elf"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// packagedFiles are the files both packages install outside
// /usr/share/doc, with their modes. /etc/mptcpd.yaml is the only conffile.
var packagedFiles = map[string]fs.FileMode{
	"/usr/sbin/mptcpd":                              0o755,
	"/usr/lib/systemd/system/mptcpd.service":        0o644,
	"/usr/lib/systemd/system/mptcpd@.service":       0o644,
	"/etc/mptcpd.yaml":                              0o644,
	"/usr/share/man/man8/mptcpd.8.gz":               0o644,
	"/usr/share/man/man5/mptcpd.yaml.5.gz":          0o644,
	"/usr/share/bash-completion/completions/mptcpd": 0o644,
}

const (
	packageName = "mptcpd-declarative"
	conffile    = "/etc/mptcpd.yaml"
	docDir      = "/usr/share/doc/" + packageName + "/"
)

// docFiles must be among the documentation of both packages.
var docFiles = []string{"README.md", "install.md", "migration.md", "config.md", "examples/minimal.yaml", "examples/shared.yaml"}

func TestPackage(t *testing.T) {
	requireTool(t, "dpkg-deb", "dpkg")
	d := makePackage(t)
	t.Run("deb", func(t *testing.T) { checkDeb(t, d) })
	t.Run("rpm", func(t *testing.T) { checkRPM(t, d) })
	t.Run("binary", func(t *testing.T) { checkBinary(t, d) })
	t.Run("systemd-analyze verify", func(t *testing.T) { verifyUnits(t, d) })
}

func checkDeb(t *testing.T, d dist) {
	// dpkg-deb -c prints tar's long listing: mode, owner, size, date, time, path.
	listing := mustRun(t, "", nil, "dpkg-deb", "--contents", d.deb)
	got := map[string]fs.FileMode{}
	var docs []string
	for _, line := range strings.Split(strings.TrimSpace(listing), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c line %q", line)
		}
		mode, owner, name := f[0], f[1], strings.TrimPrefix(f[5], ".")
		if owner != "root/root" {
			t.Errorf("%s is owned by %s, want root/root", name, owner)
		}
		if mode[0] != '-' {
			continue
		}
		if strings.HasPrefix(name, docDir) {
			docs = append(docs, strings.TrimPrefix(name, docDir))
			continue
		}
		got[name] = parseMode(t, mode)
	}
	if diff := cmp.Diff(packagedFiles, got); diff != "" {
		t.Errorf("deb files and modes (-want +got):\n%s", diff)
	}
	checkDocs(t, docs)

	control := map[string]string{}
	for _, field := range []string{"Package", "Conflicts", "Replaces", "Provides", "Architecture", "Version"} {
		control[field] = strings.TrimSpace(mustRun(t, "", nil, "dpkg-deb", "--field", d.deb, field))
	}
	wantControl := map[string]string{
		"Package":      packageName,
		"Conflicts":    "mptcpd",
		"Replaces":     "mptcpd",
		"Provides":     "",
		"Architecture": control["Architecture"],
		"Version":      control["Version"],
	}
	if diff := cmp.Diff(wantControl, control); diff != "" {
		t.Errorf("deb control fields (-want +got):\n%s", diff)
	}
	if !regexp.MustCompile(`^[0-9][0-9A-Za-z.+~]*-1$`).MatchString(control["Version"]) {
		t.Errorf("deb version %q is not UPSTREAM-1 with a dpkg upstream version", control["Version"])
	}

	ctrl := t.TempDir()
	mustRun(t, "", nil, "dpkg-deb", "--control", d.deb, ctrl)
	conffiles, err := os.ReadFile(filepath.Join(ctrl, "conffiles"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{conffile}, strings.Fields(string(conffiles))); diff != "" {
		t.Errorf("deb conffiles (-want +got):\n%s", diff)
	}
	scripts := map[string]string{}
	for _, name := range []string{"preinst", "postinst", "prerm", "postrm"} {
		if b, err := os.ReadFile(filepath.Join(ctrl, name)); err == nil {
			scripts[name] = string(b)
		}
	}
	checkScripts(t, scripts, map[string][]string{
		// Debian: daemon-reload, enable and start on install.
		"postinst": {"daemon-reload", "deb-systemd-helper enable mptcpd.service", `action=start`, `deb-systemd-invoke "$action" mptcpd.service`},
		"prerm":    {"stop mptcpd.service"},
		"postrm":   {"daemon-reload", "deb-systemd-helper purge mptcpd.service"},
	})
}

func checkRPM(t *testing.T, d dist) {
	p, err := readRPM(d.rpm)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != packageName {
		t.Errorf("rpm name %q, want %q", p.Name, packageName)
	}
	if diff := cmp.Diff([]string{"mptcpd"}, p.Conflicts); diff != "" {
		t.Errorf("rpm Conflicts (-want +got):\n%s", diff)
	}
	if len(p.Obsoletes) != 0 {
		t.Errorf("rpm Obsoletes %v: installing this package must not be the side effect of an upgrade", p.Obsoletes)
	}
	got := map[string]fs.FileMode{}
	var docs []string
	for name, f := range p.Files {
		const regular = 0o100000
		if f.Mode&0o170000 != regular {
			continue
		}
		if wantConfig := name == conffile; (f.Flags&(rpmFileConfig|rpmFileNoReplace) == rpmFileConfig|rpmFileNoReplace) != wantConfig {
			t.Errorf("%s: rpm file flags %#x, want config(noreplace) %v", name, f.Flags, wantConfig)
		}
		if strings.HasPrefix(name, docDir) {
			docs = append(docs, strings.TrimPrefix(name, docDir))
			continue
		}
		got[name] = fs.FileMode(f.Mode & 0o777)
	}
	if diff := cmp.Diff(packagedFiles, got); diff != "" {
		t.Errorf("rpm files and modes (-want +got):\n%s", diff)
	}
	checkDocs(t, docs)
	checkScripts(t, p.Scripts, map[string][]string{
		// RPM: daemon-reload and preset on first install, never start.
		"post":   {"daemon-reload", "preset mptcpd.service", `if [ "$1" -eq 1 ]`},
		"preun":  {"disable --now mptcpd.service", `if [ "$1" -eq 0 ]`},
		"postun": {"daemon-reload", "try-restart mptcpd.service"},
	})
	if strings.Contains(p.Scripts["post"], "start mptcpd") {
		t.Errorf("rpm %%post starts the service; RPM distributions leave that to the preset policy and the administrator")
	}
}

// checkBinary runs the packaged binary: it must be the static build of this
// tree and take the shipped config.
func checkBinary(t *testing.T, d dist) {
	root := repoRoot(t)
	f, err := elf.Open(d.binary)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Errorf("packaged binary has a dynamic loader: it must be static to run on every distribution")
		}
	}
	out := mustRun(t, "", nil, d.binary, "check", "-c", filepath.Join(root, "packaging/etc/mptcpd.yaml"))
	if !strings.Contains(out, "valid") {
		t.Errorf("mptcpd check of the shipped file: %s", out)
	}
}

func checkDocs(t *testing.T, docs []string) {
	t.Helper()
	for _, want := range docFiles {
		if !slices.Contains(docs, want) {
			t.Errorf("documentation lacks %s%s (has %v)", docDir, want, docs)
		}
	}
}

// checkScripts checks that each install script exists, is valid sh, and does
// what the distribution's conventions ask (each wanted fragment appears).
func checkScripts(t *testing.T, scripts map[string]string, want map[string][]string) {
	t.Helper()
	for name, fragments := range want {
		s, ok := scripts[name]
		if !ok {
			t.Errorf("no %s script", name)
			continue
		}
		if r := runStdin(t, s, "sh", "-n"); r.code != 0 {
			t.Errorf("%s is not valid sh: %s", name, r.stderr)
		}
		for _, f := range fragments {
			if !strings.Contains(s, f) {
				t.Errorf("%s lacks %q:\n%s", name, f, s)
			}
		}
	}
}

func parseMode(t *testing.T, s string) fs.FileMode {
	t.Helper()
	if len(s) != 10 {
		t.Fatalf("mode %q", s)
	}
	var m fs.FileMode
	for i, c := range s[1:] {
		if c != '-' {
			m |= 1 << (8 - i)
		}
	}
	return m
}

package declarative

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/internal/nstest"
)

// populate gives ns a few endpoints, non-default limits and a changed
// sysctl: a kernel any write would visibly change.
func populate(t *testing.T, ns string) {
	t.Helper()
	nstest.IP(t, "-n", ns, "mptcp", "endpoint", "add", "10.9.0.1", "dev", "v1", "id", "7", "subflow", "backup")
	nstest.IP(t, "-n", ns, "mptcp", "endpoint", "add", "10.9.1.1", "id", "12", "port", "20002", "signal")
	nstest.IP(t, "-n", ns, "mptcp", "endpoint", "add", "192.0.2.99", "id", "3", "subflow", "fullmesh")
	nstest.IP(t, "-n", ns, "mptcp", "limits", "set", "subflows", "5", "add_addr_accepted", "3")
	sysctlSet(t, ns, "checksum_enabled", "1")
}

func TestApplyBadFilesLeaveKernel(t *testing.T) {
	dir, names := badFiles(t)
	ns := hostNS(t, "10.9.0.1", "10.9.1.1")
	populate(t, ns)
	before := kernelState(t, ns)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			content, err := os.ReadFile(filepath.Join(dir, name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			// A root-owned 0644 copy: apply refuses any other, and the
			// refusal must come from the content.
			file := name + ".yaml"
			path := writeConfig(t, file, string(content))
			r := runMptcpd(t, invocation{dir: filepath.Dir(path), args: []string{"-n", ns, "apply", "-c", file}})
			wantCode(t, r, 1, "apply of a bad file")
			checkRejection(t, r, file, wantErrLines(t, dir, name))
			if diff := cmp.Diff(before, kernelState(t, ns)); diff != "" {
				t.Errorf("apply of a bad file changed the kernel (-before +after):\n%s", diff)
			}
		})
	}
}

func TestApplyRefusesInsecureFile(t *testing.T) {
	ns := hostNS(t, "10.9.0.1", "10.9.1.1")
	populate(t, ns)
	before := kernelState(t, ns)
	// The file is valid and would change the kernel, were it accepted.
	const content = "limits:\n  subflows: 1\nendpoints: []\n"
	tests := []struct {
		name string
		mode os.FileMode
		uid  int
		want string
	}{
		{"group-writable", 0o664, 0, "is writable by its group (mode 0664)"},
		{"world-writable", 0o646, 0, "is writable by every user (mode 0646)"},
		{"both", 0o666, 0, "is writable by its group and every user (mode 0666)"},
		{"not owned by root", 0o644, 65534, "is owned by uid 65534, not root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, "mptcpd.yaml", content)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(path, tt.uid, tt.uid); err != nil {
				t.Fatal(err)
			}
			r := mptcpd(t, "-n", ns, "apply", "-c", path)
			wantCode(t, r, 1, "apply of an insecure file")
			if !strings.Contains(r.stderr, "config file "+path+" "+tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, r.stderr)
			}
			if !strings.Contains(r.stderr, "reroute this host's traffic") {
				t.Errorf("stderr does not give the reason:\n%s", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if diff := cmp.Diff(before, kernelState(t, ns)); diff != "" {
				t.Errorf("apply of an insecure file changed the kernel (-before +after):\n%s", diff)
			}
			// plan only reads: it takes the same file.
			wantCode(t, mptcpd(t, "-n", ns, "plan", "-c", path), 0, "plan of the same file")
		})
	}
}

func TestApplyConverges(t *testing.T) {
	ns := hostNS(t, "10.9.0.1", "10.9.1.1", "10.9.2.1")
	populate(t, ns)
	path := writeConfig(t, "mptcpd.yaml", `limits:
  subflows: 3
endpoints:
  - address: 10.9.0.1
    dev: v1
    id: 7
    flags: [subflow]
  - address: 10.9.1.1
    port: 20003
    flags: [signal]
  - address: 10.9.2.1
    id: 20
    flags: [subflow, fullmesh]
sysctl:
  checksum_enabled: 0
`)
	r := mptcpd(t, "-n", ns, "apply", "-c", path)
	wantCode(t, r, 0, "apply")
	want := []string{
		"- delete 192.0.2.99 id 3 (not in the file)",
		"-/+ replace 10.9.1.1 port 20002 id 12: port 20002 -> 20003 forces replacement",
		"~ change 10.9.0.1 id 7: backup -> nobackup",
		"+ add 10.9.2.1 id 20 subflow fullmesh",
		"limits: subflows 5 -> 3",
		"sysctl net.mptcp.checksum_enabled: 1 -> 0",
	}
	if diff := cmp.Diff(want, lines(r.stdout)); diff != "" {
		t.Errorf("apply printed (-want +got):\n%s", diff)
	}
	eps := nstest.IP(t, "-n", ns, "mptcp", "endpoint", "show")
	// The replaced endpoint gets a kernel-chosen id: the next after 20.
	wantEPs := "10.9.0.1 id 7 subflow dev v1 \n10.9.2.1 id 20 subflow fullmesh \n10.9.1.1 port 20003 id 21 signal \n"
	if diff := cmp.Diff(wantEPs, eps); diff != "" {
		t.Errorf("endpoints after apply (-want +got):\n%s", diff)
	}

	// Again: nothing to do, and nothing written (the ids, which any
	// delete and add would change, stay).
	converged := kernelState(t, ns)
	r = mptcpd(t, "-n", ns, "apply", "-c", path)
	wantCode(t, r, 0, "second apply")
	if r.stdout != "no changes\n" {
		t.Errorf("second apply printed %q, want %q", r.stdout, "no changes\n")
	}
	if diff := cmp.Diff(converged, kernelState(t, ns)); diff != "" {
		t.Errorf("second apply changed the kernel (-before +after):\n%s", diff)
	}
}

func TestApplyBestEffort(t *testing.T) {
	ns := hostNS(t, "10.9.0.1", "10.9.1.1")
	// Someone holds the port the signal endpoint wants: the kernel's
	// listening socket for it cannot be made (EADDRINUSE).
	nstest.ListenMPTCP(t, ns, "10.9.0.1:20000")
	path := writeConfig(t, "mptcpd.yaml", `limits:
  subflows: 3
endpoints:
  - address: 10.9.0.1
    port: 20000
    flags: [signal]
  - address: 10.9.1.1
    id: 4
    flags: [subflow]
`)
	r := mptcpd(t, "-n", ns, "apply", "-c", path)
	wantCode(t, r, 1, "apply with a step the kernel refuses")
	// The other steps were carried out and printed.
	want := []string{"+ add 10.9.1.1 id 4 subflow", "limits: subflows 2 -> 3"}
	if diff := cmp.Diff(want, lines(r.stdout)); diff != "" {
		t.Errorf("apply printed (-want +got):\n%s", diff)
	}
	for _, s := range []string{"+ add 10.9.0.1 port 20000 signal", "address already in use", "kernel: "} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr does not contain %q:\n%s", s, r.stderr)
		}
	}
	if diff := cmp.Diff("10.9.1.1 id 4 subflow \n", nstest.IP(t, "-n", ns, "mptcp", "endpoint", "show")); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("add_addr_accepted 0 subflows 3 \n", nstest.IP(t, "-n", ns, "mptcp", "limits", "show")); diff != "" {
		t.Errorf("limits (-want +got):\n%s", diff)
	}
	// What is left is exactly the refused step.
	r = mptcpd(t, "-n", ns, "plan", "-c", path)
	if diff := cmp.Diff([]string{"+ add 10.9.0.1 port 20000 signal"}, lines(r.stdout)); diff != "" {
		t.Errorf("plan after a partial apply (-want +got):\n%s", diff)
	}
}

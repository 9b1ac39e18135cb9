package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// stepConfig is config number n (1..8) of a sequence of edits: every step
// keeps the endpoint 10.1.0.1 id 11, and each has its own signal endpoint
// and subflows limit, so that the kernel tells which step is in force.
func stepConfig(n int) string {
	return fmt.Sprintf(`limits:
  subflows: %d
endpoints:
  - address: 10.1.0.1
    dev: eth1
    id: 11
    flags: [subflow]
  - address: 10.1.0.%d
    dev: eth1
    flags: [signal]
`, n, 10+n)
}

// newEditHost is a host with the addresses every stepConfig names.
func newEditHost(t *testing.T) *host {
	t.Helper()
	h := newHost(t)
	addrs := []string{"10.1.0.1/24"}
	for n := 1; n <= 8; n++ {
		addrs = append(addrs, fmt.Sprintf("10.1.0.%d/24", 10+n))
	}
	h.link("eth1", addrs...)
	return h
}

// waitStep waits until the kernel holds what stepConfig(n) says.
func (h *host) waitStep(n int) {
	h.t.Helper()
	h.waitEndpoints("10.1.0.1 subflow dev eth1", fmt.Sprintf("10.1.0.%d signal dev eth1", 10+n))
	h.waitLimits(n, 0)
}

// checkKept checks that the endpoint every step shares was added once at
// start and never withdrawn, whatever happened to the file in between.
func checkKept(t *testing.T, h *host, p *proc) {
	t.Helper()
	// After one more run, every change made so far has been logged.
	h.waitRuns(1)
	p.waitActions("10.1.0.1, which every file keeps", func(e []logEntry) []logEntry { return changesOf(e, "10.1.0.1") }, "add")
	if got := h.idOf("10.1.0.1"); got != 11 {
		t.Errorf("10.1.0.1 has id %d, want 11", got)
	}
}

func TestFileEdits(t *testing.T) {
	t.Parallel()

	t.Run("plain file", func(t *testing.T) {
		t.Parallel()
		h := newEditHost(t)
		h.writeConfig(stepConfig(1))
		p := h.start()
		h.waitStep(1)

		// Written in place: truncated, then written.
		h.writeConfig(stepConfig(2))
		h.waitStep(2)

		// Written to a temporary file and renamed over (editors, Ansible).
		tmp := filepath.Join(h.dir, ".mptcpd.yaml.tmp")
		writeFile(t, tmp, stepConfig(3))
		if err := os.Rename(tmp, h.config); err != nil {
			t.Fatal(err)
		}
		h.waitStep(3)

		// Deleted and created again a moment later: the gap is not an
		// empty config.
		if err := os.Remove(h.config); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the moment a careless writer takes
		h.writeConfig(stepConfig(4))
		h.waitStep(4)

		// Deleted for good: the file is rejected, the kernel keeps the last
		// good config, and a new file is applied.
		before := h.kernelText()
		if err := os.Remove(h.config); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the missing file to be rejected", func() string {
			st := h.status()
			if st.Rejected == nil || !strings.Contains(strings.Join(st.Rejected.Errors, "\n"), "no such file") {
				return fmt.Sprintf("rejected_config = %+v", st.Rejected)
			}
			return ""
		})
		h.waitRuns(2)
		if diff := cmp.Diff(before, h.kernelText()); diff != "" {
			t.Errorf("kernel changed while the file was missing (-before +after):\n%s", diff)
		}
		h.writeConfig(stepConfig(5))
		h.waitStep(5)

		checkKept(t, h, p)
	})

	t.Run("symlink", func(t *testing.T) {
		t.Parallel()
		h := newEditHost(t)
		// The link and its targets live in different directories.
		targets := t.TempDir()
		a, b := filepath.Join(targets, "a.yaml"), filepath.Join(targets, "b.yaml")
		writeFile(t, a, stepConfig(1))
		if err := os.Symlink(a, h.config); err != nil {
			t.Fatal(err)
		}
		p := h.start()
		h.waitStep(1)

		// The link re-pointed to another file, atomically.
		writeFile(t, b, stepConfig(2))
		tmpLink := filepath.Join(h.dir, ".mptcpd.yaml.link")
		if err := os.Symlink(b, tmpLink); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmpLink, h.config); err != nil {
			t.Fatal(err)
		}
		h.waitStep(2)

		// The target edited in place, in its own directory.
		writeFile(t, b, stepConfig(3))
		h.waitStep(3)

		checkKept(t, h, p)
	})

	t.Run("ConfigMap ..data swap", func(t *testing.T) {
		t.Parallel()
		h := newEditHost(t)
		// The layout kubelet gives a ConfigMap volume:
		//   ..2026_12_04_10_00_00.1/mptcpd.yaml
		//   ..data -> ..2026_12_04_10_00_00.1
		//   mptcpd.yaml -> ..data/mptcpd.yaml
		publish := func(version int, text string) {
			t.Helper()
			dated := fmt.Sprintf("..2026_12_04_10_00_00.%d", version)
			if err := os.Mkdir(filepath.Join(h.dir, dated), 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(h.dir, dated, "mptcpd.yaml"), text)
			tmp := filepath.Join(h.dir, "..data_tmp")
			if err := os.Symlink(dated, tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(h.dir, "..data")); err != nil {
				t.Fatal(err)
			}
			if version > 1 {
				if err := os.RemoveAll(filepath.Join(h.dir, fmt.Sprintf("..2026_12_04_10_00_00.%d", version-1))); err != nil {
					t.Fatal(err)
				}
			}
		}
		publish(1, stepConfig(1))
		if err := os.Symlink(filepath.Join("..data", "mptcpd.yaml"), h.config); err != nil {
			t.Fatal(err)
		}
		p := h.start()
		h.waitStep(1)

		publish(2, stepConfig(2))
		h.waitStep(2)
		publish(3, stepConfig(3))
		h.waitStep(3)

		checkKept(t, h, p)
	})
}

package netns

import (
	"os"
	"strings"
	"testing"
)

func TestOpenRefusesOtherFiles(t *testing.T) {
	for _, path := range []string{"/proc/self/ns/mnt", "/proc/self/net/dev", "/etc/hostname"} {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		ns, err := Open(path)
		if err == nil {
			ns.Close()
			t.Errorf("Open(%q) accepted a file that is not a network namespace", path)
			continue
		}
		if !strings.Contains(err.Error(), "is not a network namespace file") {
			t.Errorf("Open(%q) = %v, want a message that says it is not a network namespace", path, err)
		}
	}
	ns, err := Open("/proc/self/ns/net")
	if err != nil {
		t.Fatalf("Open of the process's own namespace: %v", err)
	}
	ns.Close()
	if _, err := Open("no-such-namespace-here"); err == nil || !strings.Contains(err.Error(), "ip netns add") {
		t.Errorf("Open of a missing name = %v, want a hint at ip netns add", err)
	}
}

package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mptcpdBin is the binary under test, built once by TestMain and only read
// afterwards.
var mptcpdBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "e2e-daemon-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := buildMptcpd(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mptcpdBin = bin
	return m.Run()
}

// buildMptcpd builds cmd/mptcpd of this module into dir.
func buildMptcpd(dir string) (string, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	bin := filepath.Join(dir, "mptcpd")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/mptcpd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/mptcpd in %s: %w\n%s", root, err, out)
	}
	return bin, nil
}

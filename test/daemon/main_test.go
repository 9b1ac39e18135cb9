package daemon

import (
	"fmt"
	"os"
	"testing"

	"github.com/mptcpd/mptcpd/internal/testbin"
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
	bin, err := testbin.BuildMptcpd(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mptcpdBin = bin
	return m.Run()
}

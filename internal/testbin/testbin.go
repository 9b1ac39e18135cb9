// Package testbin holds what the integration tests and the daemon bench
// share to build and drive the mptcpd binary: finding the module root,
// building ./cmd/mptcpd with cgo off as the Makefile does, collecting a
// child's output while it runs, and stopping a child (SIGTERM, then
// SIGKILL). It exists so that the tests run the same static binary that
// ships, built one way, instead of each package keeping its own copy of
// these helpers.
package testbin

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ModuleRoot is the directory of the go.mod the caller's working directory
// belongs to, as `go env GOMOD` reports it.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside the mptcpd module")
	}
	return filepath.Dir(gomod), nil
}

// BuildMptcpd builds ./cmd/mptcpd of the module into dir/mptcpd, with cgo
// off as the Makefile builds it, and returns the binary's path. extraFlags
// go to `go build` before -o (for example "-trimpath").
func BuildMptcpd(dir string, extraFlags ...string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "mptcpd")
	args := append([]string{"build"}, extraFlags...)
	args = append(args, "-o", bin, "./cmd/mptcpd")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), root, err, out)
	}
	return bin, nil
}

// Buffer collects a child's stdout and stderr while the test reads it: a
// bytes.Buffer that one goroutine may write while another reads. The zero
// value is ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Child is a started command whose Wait runs in the background, so that
// the caller can watch for its exit while it runs, and stop it.
type Child struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// Start starts cmd and waits for it in the background.
func Start(cmd *exec.Cmd) (*Child, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &Child{cmd: cmd, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// Exited is closed once the child has exited.
func (c *Child) Exited() <-chan struct{} { return c.exited }

// Err is what Wait returned (nil for exit 0). Read it only once Exited is
// closed.
func (c *Child) Err() error { return c.err }

// Stop sends SIGTERM to the child's own PID and waits for it to exit;
// after `within` it kills it and reports that it had to. A child that has
// already exited is not signalled again. Otherwise it returns Wait's error.
func (c *Child) Stop(within time.Duration) error {
	select {
	case <-c.exited:
		return c.err
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-c.exited:
		return c.err
	case <-time.After(within):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("did not exit within %v of SIGTERM; killed", within)
	}
}

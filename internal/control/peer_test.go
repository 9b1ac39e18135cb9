package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpd/mptcpd/internal/nstest"
)

// helperEnv makes the test binary act as a `mptcpd status` client (see
// TestMain), so that a test can run one under another uid.
const helperEnv = "MPTCPD_CONTROL_TEST_CLIENT"

// Exit codes of the helper client.
const (
	helperOK        = 0
	helperNeedsRoot = 3
	helperOther     = 4
)

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		os.Exit(runHelperClient(path))
	}
	os.Exit(m.Run())
}

func runHelperClient(path string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := GetStatus(ctx, path)
	switch {
	case err == nil:
		return helperOK
	case errors.Is(err, ErrNeedsRoot):
		fmt.Println(err)
		return helperNeedsRoot
	default:
		fmt.Println(err)
		return helperOther
	}
}

// asNobody runs the test binary as a client under uid 65534 against the
// socket at path and returns its exit code and output. The binary is copied
// into dir, which must be reachable by that uid.
func asNobody(t *testing.T, dir, path string) (int, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "client")
	copyFile(t, self, bin, 0o755)
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = []string{helperEnv + "=" + path}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run client as uid 65534: %v", err)
	}
	return cmd.ProcessState.ExitCode(), strings.TrimSpace(string(out))
}

func copyFile(t *testing.T, from, to string, perm os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(to, perm); err != nil {
		t.Fatal(err)
	}
}

// publicDir is a directory every user may enter, holding the daemon's
// socket directory (mode 0755, as systemd's RuntimeDirectory= makes it).
func publicDir(t *testing.T) (dir, sock string) {
	t.Helper()
	dir = shortDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	mkdir(t, run, 0o755)
	return dir, filepath.Join(run, "control.sock")
}

// The socket's mode is the first wall: an ordinary user cannot connect.
func TestOrdinaryUserCannotConnect(t *testing.T) {
	nstest.RequireRoot(t)
	dir, path := publicDir(t)
	h := &fakeHandler{}
	serveAt(t, path, h)

	code, out := asNobody(t, dir, path)
	if code != helperNeedsRoot {
		t.Fatalf("client as uid 65534 exited %d (%s), want %d (needs root)", code, out, helperNeedsRoot)
	}
	if want := "needs root (permission denied on " + path + ")"; out != want {
		t.Errorf("client said %q, want %q", out, want)
	}
	if reloads, queries := h.calls(); reloads+queries != 0 {
		t.Errorf("handler was called %d times", reloads+queries)
	}
}

// SO_PEERCRED is the second wall: even with the socket opened up by
// mistake, an ordinary user is refused.
func TestOrdinaryUserRefusedByCredentials(t *testing.T) {
	nstest.RequireRoot(t)
	dir, path := publicDir(t)
	h := &fakeHandler{}
	serveAt(t, path, h)
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}

	code, out := asNobody(t, dir, path)
	if code != helperNeedsRoot {
		t.Fatalf("client as uid 65534 exited %d (%s), want %d (needs root)", code, out, helperNeedsRoot)
	}
	if want := "needs root: mptcpd refused the request: permission denied: uid 65534 (pid "; !strings.HasPrefix(out, want) {
		t.Errorf("client said %q, want it to start with %q", out, want)
	}
	if reloads, queries := h.calls(); reloads+queries != 0 {
		t.Errorf("handler was called %d times", reloads+queries)
	}
}

func serveAt(t *testing.T, path string, h Handler) {
	t.Helper()
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

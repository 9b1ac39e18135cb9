package control

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/internal/nstest"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func TestListenCreates(t *testing.T) {
	dir := filepath.Join(shortDir(t), "mptcpd")
	path := filepath.Join(dir, "control.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got, want := mode(t, dir), os.ModeDir|0o750; got != want {
		t.Errorf("directory mode %v, want %v", got, want)
	}
	if got, want := mode(t, path), os.ModeSocket|0o600; got != want {
		t.Errorf("socket mode %v, want %v", got, want)
	}
	if err := ln.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}
	// The lock went with it: a new daemon can start.
	ln2, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen after Close: %v", err)
	}
	ln2.Close()
}

func TestListenDirectoryChecks(t *testing.T) {
	nstest.RequireRoot(t) // to give a directory away with chown
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		wantErr string
	}{
		{
			name:    "systemd's RuntimeDirectory mode",
			prepare: func(t *testing.T, dir string) { mkdir(t, dir, 0o755) },
		},
		{
			name:    "writable by others",
			prepare: func(t *testing.T, dir string) { mkdir(t, dir, 0o777) },
			wantErr: "is writable by group or others (mode 0777)",
		},
		{
			name:    "writable by group",
			prepare: func(t *testing.T, dir string) { mkdir(t, dir, 0o770) },
			wantErr: "is writable by group or others (mode 0770)",
		},
		{
			name: "someone else's",
			prepare: func(t *testing.T, dir string) {
				mkdir(t, dir, 0o755)
				if err := os.Chown(dir, 65534, 65534); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "belongs to uid 65534",
		},
		{
			name: "a symlink",
			prepare: func(t *testing.T, dir string) {
				target := dir + ".real"
				mkdir(t, target, 0o755)
				if err := os.Symlink(target, dir); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "is not a directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(shortDir(t), "mptcpd")
			tt.prepare(t, dir)
			ln, err := Listen(filepath.Join(dir, "control.sock"))
			if ln != nil {
				ln.Close()
			}
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tt.wantErr == "" && err != nil || !strings.Contains(got, tt.wantErr) {
				t.Errorf("Listen: %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func mkdir(t *testing.T, dir string, perm os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
}

func TestListenRemovesStaleSocket(t *testing.T) {
	path := filepath.Join(shortDir(t), "control.sock")
	makeStaleSocket(t, path)
	ln, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer ln.Close()
	if got, want := mode(t, path), os.ModeSocket|0o600; got != want {
		t.Errorf("socket mode %v, want %v", got, want)
	}
}

func TestListenKeepsOtherFiles(t *testing.T) {
	path := filepath.Join(shortDir(t), "control.sock")
	if err := os.WriteFile(path, []byte("not a socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(path)
	if err == nil {
		ln.Close()
		t.Fatal("Listen replaced a regular file")
	}
	if !strings.Contains(err.Error(), "exists and is not a socket") {
		t.Errorf("Listen over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "not a socket" {
		t.Errorf("the file was changed: %q", b)
	}
}

// A second daemon must refuse to start, say why, and leave the first one
// working.
func TestListenAnotherDaemon(t *testing.T) {
	h := &fakeHandler{status: Status{Daemon: Daemon{PID: 4242}}}
	path := startServer(t, h)

	ln, err := Listen(path)
	if err == nil {
		ln.Close()
		t.Fatal("second Listen succeeded")
	}
	if !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Listen: %v, want ErrAlreadyRunning", err)
	}
	if want := "another mptcpd is already running (pid 4242, answering on " + path + "); stop it first"; err.Error() != want {
		t.Errorf("second Listen: %q, want %q", err, want)
	}
	st, err := GetStatus(testContext(t), path)
	if err != nil || st.Daemon.PID != 4242 {
		t.Errorf("first daemon after the attempt: %+v, %v", st.Daemon, err)
	}
}

// Between the lock and the socket, a daemon that is still starting (it has
// the lock, not yet the socket) also counts as running.
func TestListenLocked(t *testing.T) {
	path := filepath.Join(shortDir(t), "control.sock")
	lock, err := lockFile(path + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	makeStaleSocket(t, path)

	ln, err := Listen(path)
	if err == nil {
		ln.Close()
		t.Fatal("Listen succeeded while another process held the lock")
	}
	if !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("Listen: %v, want ErrAlreadyRunning", err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("the other daemon's socket was touched: %v", err)
	}
}

func TestLockFileIsPrivate(t *testing.T) {
	path := filepath.Join(shortDir(t), "control.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var st unix.Stat_t
	if err := unix.Stat(path+".lock", &st); err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode & 0o777; perm&0o077 != 0 {
		t.Errorf("lock file mode %s, want no access for others", strconv.FormatUint(uint64(perm), 8))
	}
}

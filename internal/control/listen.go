package control

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// ErrAlreadyRunning is returned by Listen when another daemon holds the
// socket.
var ErrAlreadyRunning = errors.New("another mptcpd is already running")

// probeTimeout bounds the look at an existing socket: a live daemon answers
// a connect at once.
const probeTimeout = 2 * time.Second

// Listen creates the control socket at path (mode 0600) and returns its
// listener; closing the listener removes the socket. The directory is
// created 0750 if missing, and must otherwise belong to this user and be
// writable by no one else (systemd's RuntimeDirectory= makes it 0755).
//
// A socket file left behind by a daemon that died is removed, but only after
// a connect shows that nothing listens on it. If another daemon is running,
// Listen fails with ErrAlreadyRunning and leaves that daemon's socket alone.
// A lock file beside the socket (path + ".lock") makes the check safe
// against two daemons starting at the same moment.
func Listen(path string) (net.Listener, error) {
	if err := prepareDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	lock, err := lockFile(path + ".lock")
	if errors.Is(err, unix.EWOULDBLOCK) {
		return nil, alreadyRunning(path)
	}
	if err != nil {
		return nil, err
	}
	ln, err := listenLocked(path)
	if err != nil {
		lock.Close()
		return nil, err
	}
	return &lockedListener{UnixListener: ln, lock: lock}, nil
}

func listenLocked(path string) (*net.UnixListener, error) {
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// bind(2) applies the umask, and the umask is per process: changing it
	// here would race with every other goroutine creating files. Until this
	// chmod the directory's mode, and always the SO_PEERCRED check, keep
	// others out.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// prepareDir creates the socket's directory or checks an existing one: a
// directory others can write to would let them swap the socket for their
// own.
func prepareDir(dir string) error {
	err := os.Mkdir(dir, 0o750)
	switch {
	case err == nil:
		// Mkdir's mode is filtered by the umask; make it exact.
		if err := os.Chmod(dir, 0o750); err != nil {
			return fmt.Errorf("control socket directory: %w", err)
		}
		return nil
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("control socket directory: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("control socket directory %s: %w", dir, err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("control socket directory %s is not a directory", dir)
	case st.Uid != uint32(os.Geteuid()):
		return fmt.Errorf("control socket directory %s belongs to uid %d, not to this process (uid %d)", dir, st.Uid, os.Geteuid())
	case st.Mode&0o022 != 0:
		return fmt.Errorf("control socket directory %s is writable by group or others (mode %04o); make it 0755 or 0750", dir, st.Mode&0o7777)
	}
	return nil
}

// lockFile takes an exclusive lock that lasts as long as the returned file
// stays open; the kernel drops it when the process dies.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("control socket lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, err
		}
		return nil, fmt.Errorf("control socket lock %s: %w", path, err)
	}
	return f, nil
}

// removeStale removes a socket file that nothing listens on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control socket: %s exists and is not a socket; remove it if it is not needed", path)
	}
	d := net.Dialer{Timeout: probeTimeout}
	conn, err := d.Dial("unix", path)
	if err == nil {
		conn.Close()
		return alreadyRunning(path)
	}
	if !errors.Is(err, unix.ECONNREFUSED) {
		return fmt.Errorf("control socket: cannot tell whether %s is in use: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("control socket: remove stale %s: %w", path, err)
	}
	return nil
}

// alreadyRunning names the other daemon's pid when it answers.
func alreadyRunning(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	if st, err := GetStatus(ctx, path); err == nil && st.Daemon.PID != 0 {
		return fmt.Errorf("%w (pid %d, answering on %s); stop it first", ErrAlreadyRunning, st.Daemon.PID, path)
	}
	return fmt.Errorf("%w (it holds %s); stop it first", ErrAlreadyRunning, path)
}

// lockedListener keeps the lock for as long as the socket exists.
type lockedListener struct {
	*net.UnixListener
	lock *os.File
}

// Close removes the socket, then releases the lock, in that order, so that
// the next daemon never finds our socket while holding the lock itself.
func (l *lockedListener) Close() error {
	err := l.UnixListener.Close()
	if lerr := l.lock.Close(); lerr != nil && !errors.Is(lerr, os.ErrClosed) {
		err = errors.Join(err, lerr)
	}
	return err
}

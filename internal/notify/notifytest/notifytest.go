// Package notifytest runs a fake systemd notification socket for tests: it
// receives the sd_notify datagrams a daemon sends and hands them out in the
// order they arrived, so a test can check the whole sequence (READY=1,
// RELOADING=1, STATUS=..., STOPPING=1).
package notifytest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
)

// maxSocketPath is the room for a path in sockaddr_un, less the NUL.
const maxSocketPath = 107

// Socket is a listening unixgram socket that records every datagram.
type Socket struct {
	path string
	conn *net.UnixConn
	done chan struct{}

	mu       sync.Mutex
	received []string
	next     int
	arrived  chan struct{} // closed and replaced on every datagram
	closed   bool
	readErr  error
}

// Listen creates the socket in a temporary directory and closes it when the
// test ends. It does not touch the environment: use Setenv for code running
// in the test process, or pass Path as NOTIFY_SOCKET to a child process.
func Listen(t testing.TB) *Socket {
	t.Helper()
	dir := t.TempDir()
	if len(filepath.Join(dir, "notify")) > maxSocketPath {
		// A long TMPDIR plus a long test name can outgrow sockaddr_un.
		var err error
		if dir, err = os.MkdirTemp("", "notify"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("fake NOTIFY_SOCKET: %v", err)
	}
	s := &Socket{
		path:    path,
		conn:    conn,
		done:    make(chan struct{}),
		arrived: make(chan struct{}),
	}
	go s.read()
	t.Cleanup(func() {
		conn.Close()
		<-s.done
	})
	return s
}

// Path is the socket's address, the value for NOTIFY_SOCKET.
func (s *Socket) Path() string { return s.path }

// Setenv points NOTIFY_SOCKET at this socket for the rest of the test (and
// so rules out t.Parallel, like t.Setenv).
func (s *Socket) Setenv(t testing.TB) {
	t.Helper()
	t.Setenv("NOTIFY_SOCKET", s.path)
}

func (s *Socket) read() {
	defer close(s.done)
	// systemd reads notifications into a buffer of this size (NOTIFY_BUFFER_MAX).
	buf := make([]byte, 4096)
	for {
		n, _, err := s.conn.ReadFromUnix(buf)
		s.mu.Lock()
		if err != nil {
			s.closed = true
			if !errors.Is(err, net.ErrClosed) {
				s.readErr = err
			}
			close(s.arrived)
			s.mu.Unlock()
			return
		}
		s.received = append(s.received, string(buf[:n]))
		close(s.arrived)
		s.arrived = make(chan struct{})
		s.mu.Unlock()
	}
}

// Next returns the oldest datagram not yet returned by Next, waiting for one
// until ctx ends.
func (s *Socket) Next(ctx context.Context) (string, error) {
	for {
		s.mu.Lock()
		if s.next < len(s.received) {
			d := s.received[s.next]
			s.next++
			s.mu.Unlock()
			return d, nil
		}
		arrived, closed, readErr := s.arrived, s.closed, s.readErr
		s.mu.Unlock()
		if readErr != nil {
			return "", fmt.Errorf("fake NOTIFY_SOCKET: %w", readErr)
		}
		if closed {
			return "", fmt.Errorf("fake NOTIFY_SOCKET %s: %w", s.path, net.ErrClosed)
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for datagram %d on %s: %w", s.next+1, s.path, ctx.Err())
		}
	}
}

// NextN returns the next n datagrams, as Next does.
func (s *Socket) NextN(ctx context.Context, n int) ([]string, error) {
	var got []string
	for range n {
		d, err := s.Next(ctx)
		if err != nil {
			return got, err
		}
		got = append(got, d)
	}
	return got, nil
}

// Received returns every datagram received so far, in order, whether or not
// Next has returned it.
func (s *Socket) Received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.received...)
}

var monotonicUsec = regexp.MustCompile(`(?m)^MONOTONIC_USEC=[0-9]+$`)

// Scrub replaces the clock reading in MONOTONIC_USEC=<n> with "N", so that a
// test can compare datagrams exactly. A malformed value is left alone and so
// fails the comparison.
func Scrub(datagram string) string {
	return monotonicUsec.ReplaceAllString(datagram, "MONOTONIC_USEC=N")
}

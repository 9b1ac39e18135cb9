package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Handler answers the requests that arrive on the socket.
type Handler interface {
	// Reload re-reads the config file and applies it, and returns only when
	// the file has been applied or rejected. The daemon should have sent
	// systemd its READY=1 by then, so that systemd has heard it before
	// ExecReload= exits.
	Reload(ctx context.Context) ReloadResult
	// Status describes the daemon now.
	Status(ctx context.Context) Status
}

const (
	// maxRequest bounds what a peer can make the daemon read.
	maxRequest = 4 << 10
	// requestTimeout bounds how long a peer may take to send its request
	// and to read the answer; the work in between is not bounded here.
	requestTimeout = 10 * time.Second
)

// Serve answers requests on ln until ctx ends, each connection in its own
// goroutine, then closes ln and waits for the requests in progress, whose
// context it cancels. Serve returns nil when ctx ended it.
func Serve(ctx context.Context, ln net.Listener, h Handler) error {
	s := server{handler: h, selfUID: uint32(os.Geteuid())}
	return s.serve(ctx, ln)
}

type server struct {
	handler Handler
	selfUID uint32
}

func (s server) serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		ln.Close()
		cancel()
		wg.Wait()
	}()
	// Closing the listener is what wakes Accept when ctx ends.
	context.AfterFunc(ctx, func() { ln.Close() })

	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
				// Out of file descriptors or similar: wait, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(backoff):
					continue
				case <-ctx.Done():
					return nil
				}
			}
			return fmt.Errorf("control socket %s: %w", ln.Addr(), err)
		}
		backoff = 0
		wg.Go(func() { s.handle(ctx, conn) })
	}
}

func (s server) handle(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(requestTimeout))
	resp := s.answer(ctx, conn)
	resp.V = ProtocolVersion
	conn.SetWriteDeadline(time.Now().Add(requestTimeout))
	// The peer may have given up; there is no one left to tell.
	_ = json.NewEncoder(conn).Encode(resp)
}

func (s server) answer(ctx context.Context, conn net.Conn) response {
	// The request is read even from a peer about to be refused: closing
	// before it has been sent would break the peer's write (EPIPE) and it
	// would never see why it was refused.
	var req request
	decodeErr := json.NewDecoder(io.LimitReader(conn, maxRequest)).Decode(&req)

	cred, err := peerCredentials(conn)
	if err != nil {
		return response{Error: err.Error(), Code: codePermissionDenied}
	}
	if err := authorize(cred, s.selfUID); err != nil {
		return response{Error: err.Error(), Code: codePermissionDenied}
	}
	if decodeErr != nil {
		return response{Error: fmt.Sprintf("bad request: %v", decodeErr), Code: codeBadRequest}
	}
	if req.V != ProtocolVersion {
		return response{Error: fmt.Sprintf("unsupported protocol version %d (this mptcpd speaks %d)", req.V, ProtocolVersion), Code: codeBadRequest}
	}
	// The work may take longer than a peer is given to talk.
	conn.SetDeadline(time.Time{})
	switch req.Op {
	case opReload:
		r := s.handler.Reload(ctx)
		return response{Reload: &r}
	case opStatus:
		st := s.handler.Status(ctx).withEmptyLists()
		return response{Status: &st}
	default:
		return response{Error: fmt.Sprintf("unknown operation %q", req.Op), Code: codeBadRequest}
	}
}

// peerCredentials asks the kernel who is on the other end (SO_PEERCRED):
// unlike anything the peer sends, it cannot be forged.
func peerCredentials(conn net.Conn) (*unix.Ucred, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("cannot tell who the peer is on a %T", conn)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return nil, fmt.Errorf("peer credentials: %w", credErr)
	}
	return cred, nil
}

// authorize admits root and the daemon's own user. The socket's mode already
// keeps others out; this holds even if the mode or the directory is wrong.
func authorize(cred *unix.Ucred, selfUID uint32) error {
	if cred.Uid == 0 || cred.Uid == selfUID {
		return nil
	}
	return fmt.Errorf("permission denied: uid %d (pid %d) may not use the mptcpd control socket (root only)", cred.Uid, cred.Pid)
}

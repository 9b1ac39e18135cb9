package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

var (
	// ErrNotRunning: there is no daemon to ask.
	ErrNotRunning = errors.New("mptcpd is not running")
	// ErrNeedsRoot: the socket or the daemon refused this user.
	ErrNeedsRoot = errors.New("needs root")
)

// maxResponse bounds what the client reads; a status with every field full
// is a few kilobytes.
const maxResponse = 1 << 20

// Reload asks the daemon on socketPath to reload its config file and waits,
// until ctx ends, for the file to be applied or rejected. A rejected file is
// not an error here: check ReloadResult.OK.
func Reload(ctx context.Context, socketPath string) (ReloadResult, error) {
	resp, err := call(ctx, socketPath, opReload)
	if err != nil {
		return ReloadResult{}, err
	}
	if resp.Reload == nil {
		return ReloadResult{}, fmt.Errorf("mptcpd on %s sent no reload result", socketPath)
	}
	return *resp.Reload, nil
}

// GetStatus asks the daemon on socketPath how it is doing.
func GetStatus(ctx context.Context, socketPath string) (Status, error) {
	resp, err := call(ctx, socketPath, opStatus)
	if err != nil {
		return Status{}, err
	}
	if resp.Status == nil {
		return Status{}, fmt.Errorf("mptcpd on %s sent no status", socketPath)
	}
	return *resp.Status, nil
}

func call(ctx context.Context, socketPath, op string) (response, error) {
	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		return response{}, dialError(ctx, socketPath, start, err)
	}
	defer conn.Close()
	// Unblock reads and writes when ctx ends, deadline or not.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	sendErr := json.NewEncoder(conn).Encode(request{V: ProtocolVersion, Op: op})
	// Even when the send failed, the daemon may have said why before it
	// hung up (a refusal): read that first.
	var resp response
	if err := json.NewDecoder(io.LimitReader(conn, maxResponse)).Decode(&resp); err != nil {
		if sendErr != nil {
			return response{}, ioError(ctx, socketPath, start, "send request", sendErr)
		}
		return response{}, ioError(ctx, socketPath, start, "read answer", err)
	}
	if resp.V != ProtocolVersion {
		return response{}, fmt.Errorf("mptcpd on %s answered in protocol version %d; this client speaks %d (is the daemon from another release?)", socketPath, resp.V, ProtocolVersion)
	}
	if resp.Error != "" {
		if resp.Code == codePermissionDenied {
			return response{}, fmt.Errorf("%w: mptcpd refused the request: %s", ErrNeedsRoot, resp.Error)
		}
		return response{}, fmt.Errorf("mptcpd on %s: %s", socketPath, resp.Error)
	}
	return resp, nil
}

func dialError(ctx context.Context, path string, start time.Time, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w (no socket at %s)", ErrNotRunning, path)
	case errors.Is(err, unix.ECONNREFUSED):
		return fmt.Errorf("%w (nothing listens on %s)", ErrNotRunning, path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w (permission denied on %s)", ErrNeedsRoot, path)
	case ctx.Err() != nil:
		return waitError(ctx, path, start)
	}
	return fmt.Errorf("connect to mptcpd on %s: %w", path, err)
}

func ioError(ctx context.Context, path string, start time.Time, what string, err error) error {
	if ctx.Err() != nil {
		return waitError(ctx, path, start)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("mptcpd on %s closed the connection without an answer", path)
	}
	return fmt.Errorf("%s to mptcpd on %s: %w", what, path, err)
}

func waitError(ctx context.Context, path string, start time.Time) error {
	if dl, ok := ctx.Deadline(); ok && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("mptcpd on %s did not answer within %s: %w", path, roundWait(dl.Sub(start)), ctx.Err())
	}
	return fmt.Errorf("gave up waiting for mptcpd on %s after %s: %w", path, roundWait(time.Since(start)), ctx.Err())
}

// roundWait rounds a wait for people. The deadline was set a moment before
// the clock started, so 200ms measures as 199.6ms: round to 10ms.
func roundWait(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(10 * time.Millisecond)
}

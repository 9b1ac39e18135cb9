package control

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
)

// fakeHandler answers with canned results and counts the calls.
type fakeHandler struct {
	reload ReloadResult
	status Status
	// block, when set, makes Reload wait until it is closed or the
	// server's context ends; entered is told when Reload begins.
	block   chan struct{}
	entered chan struct{}

	mu      sync.Mutex
	reloads int
	queries int
}

func (h *fakeHandler) Reload(ctx context.Context) ReloadResult {
	h.mu.Lock()
	h.reloads++
	h.mu.Unlock()
	if h.entered != nil {
		h.entered <- struct{}{}
	}
	if h.block != nil {
		select {
		case <-h.block:
		case <-ctx.Done():
			return ReloadResult{Result: Failed, Errors: []string{ctx.Err().Error()}}
		}
	}
	return h.reload
}

func (h *fakeHandler) Status(context.Context) Status {
	h.mu.Lock()
	h.queries++
	h.mu.Unlock()
	return h.status
}

func (h *fakeHandler) calls() (reloads, queries int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reloads, h.queries
}

// shortDir is a private directory with a path short enough for
// sockaddr_un whatever the test's name.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startServer runs Listen and Serve on a fresh socket and stops them when
// the test ends, checking that Serve returns nil.
func startServer(t *testing.T, h Handler) string {
	t.Helper()
	path := filepath.Join(shortDir(t), "run", "control.sock")
	serveAt(t, path, h)
	return path
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestReloadRoundTrip(t *testing.T) {
	tests := []ReloadResult{
		{Result: Applied, Path: "/etc/mptcpd.yaml", SHA256: goodSum, Changes: 3},
		{Result: Rejected, Path: "/etc/mptcpd.yaml", SHA256: badSum, Errors: []string{"/etc/mptcpd.yaml:3:5: unknown key \"flagz\""}},
		{Result: Failed, Path: "/etc/mptcpd.yaml", SHA256: goodSum, Changes: 1, Errors: []string{"add endpoint 192.0.2.30: file exists"}},
	}
	for _, want := range tests {
		t.Run(want.Result, func(t *testing.T) {
			h := &fakeHandler{reload: want}
			path := startServer(t, h)
			got, err := Reload(testContext(t), path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Reload (-want +got):\n%s", diff)
			}
			if reloads, queries := h.calls(); reloads != 1 || queries != 0 {
				t.Errorf("handler saw %d reloads and %d status queries, want 1 and 0", reloads, queries)
			}
		})
	}
}

func TestStatusRoundTrip(t *testing.T) {
	want := fullStatus()
	h := &fakeHandler{status: want}
	path := startServer(t, h)
	got, err := GetStatus(testContext(t), path)
	if err != nil {
		t.Fatal(err)
	}
	// A nil list arrives as an empty one (see TestWire).
	if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("GetStatus (-want +got):\n%s", diff)
	}
	// Encoding must not have written into the daemon's own values.
	if diff := cmp.Diff(fullStatus(), h.status, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("handler's status changed (-want +got):\n%s", diff)
	}
}

// exchange sends one raw line and returns the raw answer line.
func exchange(t *testing.T, path, line string) string {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write([]byte(line)); err != nil {
		t.Fatal(err)
	}
	answer, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("reading answer to %q: %v", line, err)
	}
	return answer
}

// The wire format is a contract with clients of other releases: check it
// byte for byte.
func TestWire(t *testing.T) {
	h := &fakeHandler{
		reload: ReloadResult{Result: Applied, Path: "/etc/mptcpd.yaml", SHA256: "ab", Changes: 1},
		status: Status{Daemon: Daemon{PID: 42, StartedAt: t0, Version: "1.2.0"}},
	}
	path := startServer(t, h)
	tests := []struct {
		name, request, want string
	}{
		{
			name:    "reload",
			request: `{"v":1,"op":"reload"}` + "\n",
			want:    `{"v":1,"reload":{"result":"applied","path":"/etc/mptcpd.yaml","sha256":"ab","changes":1}}` + "\n",
		},
		{
			name:    "status lists are never null",
			request: `{"v":1,"op":"status"}` + "\n",
			want:    `{"v":1,"status":{"daemon":{"pid":42,"started_at":"2025-03-04T05:00:00Z","version":"1.2.0","runs":0},"endpoints":[],"limits":[],"sysctls":[],"fights":[]}}` + "\n",
		},
		{
			name:    "request without a newline, unknown fields ignored",
			request: `{"v":1,"op":"status","from":"a newer client"}`,
			want:    `{"v":1,"status":{"daemon":{"pid":42,"started_at":"2025-03-04T05:00:00Z","version":"1.2.0","runs":0},"endpoints":[],"limits":[],"sysctls":[],"fights":[]}}` + "\n",
		},
		{
			name:    "other version",
			request: `{"v":2,"op":"reload"}` + "\n",
			want:    `{"v":1,"error":"unsupported protocol version 2 (this mptcpd speaks 1)","code":"bad_request"}` + "\n",
		},
		{
			name:    "unknown operation",
			request: `{"v":1,"op":"restart"}` + "\n",
			want:    `{"v":1,"error":"unknown operation \"restart\"","code":"bad_request"}` + "\n",
		},
		{
			name:    "not JSON",
			request: "reload\n",
			want:    `{"v":1,"error":"bad request: invalid character 'r' looking for beginning of value","code":"bad_request"}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exchange(t, path, tt.request); got != tt.want {
				t.Errorf("answer to %q\n got %s\nwant %s", tt.request, got, tt.want)
			}
		})
	}
	if reloads, queries := h.calls(); reloads != 1 || queries != 2 {
		t.Errorf("handler saw %d reloads and %d status queries, want 1 and 2", reloads, queries)
	}
}

// A reload answers only once the handler is done, however long that takes.
func TestReloadWaitsForHandler(t *testing.T) {
	h := &fakeHandler{
		reload:  ReloadResult{Result: Rejected, Path: "/etc/mptcpd.yaml", Errors: []string{"x:1:1: bad"}},
		block:   make(chan struct{}),
		entered: make(chan struct{}, 1),
	}
	path := startServer(t, h)
	type answer struct {
		r   ReloadResult
		err error
	}
	answers := make(chan answer, 1)
	go func() {
		r, err := Reload(testContext(t), path)
		answers <- answer{r, err}
	}()
	<-h.entered
	select {
	case a := <-answers:
		t.Fatalf("Reload returned %+v, %v while the handler was still working", a.r, a.err)
	default:
	}
	close(h.block)
	a := <-answers
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.r.OK() || a.r.Result != Rejected {
		t.Errorf("Reload = %+v, want the handler's rejection", a.r)
	}
}

func TestClientTimeout(t *testing.T) {
	h := &fakeHandler{block: make(chan struct{})} // never released: Serve's context ends it
	path := startServer(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := Reload(ctx, path)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Reload against a stuck daemon: %v, want DeadlineExceeded", err)
	}
	// How long it waited is measured from when the client started, a
	// moment after the deadline was set: only the form is certain.
	if want := regexp.MustCompile("mptcpd on " + regexp.QuoteMeta(path) + ` did not answer within [0-9]+ms`); !want.MatchString(err.Error()) {
		t.Errorf("error %q does not match %q", err, want)
	}
}

func TestClientCancel(t *testing.T) {
	h := &fakeHandler{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	path := startServer(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-h.entered
		cancel()
	}()
	_, err := Reload(ctx, path)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "gave up waiting for mptcpd") {
		t.Errorf("Reload cancelled: %v, want context.Canceled, saying it gave up", err)
	}
}

func TestClientNotRunning(t *testing.T) {
	dir := shortDir(t)

	missing := filepath.Join(dir, "control.sock")
	_, err := GetStatus(testContext(t), missing)
	if !errors.Is(err, ErrNotRunning) {
		t.Errorf("GetStatus without a socket: %v, want ErrNotRunning", err)
	}
	if want := "mptcpd is not running (no socket at " + missing + ")"; err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}

	stale := filepath.Join(dir, "stale.sock")
	makeStaleSocket(t, stale)
	_, err = Reload(testContext(t), stale)
	if !errors.Is(err, ErrNotRunning) {
		t.Errorf("Reload on a stale socket: %v, want ErrNotRunning", err)
	}
	if want := "mptcpd is not running (nothing listens on " + stale + ")"; err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// makeStaleSocket leaves a socket file behind, as a daemon that was killed
// does.
func makeStaleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

func TestServeStops(t *testing.T) {
	path := filepath.Join(shortDir(t), "control.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHandler{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h) }()

	// A reload in progress when the daemon stops gets its context
	// cancelled, and Serve waits for it.
	answers := make(chan error, 1)
	go func() {
		_, err := Reload(testContext(t), path)
		answers <- err
	}()
	<-h.entered
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel: %v, want nil", err)
	}
	if err := <-answers; err != nil {
		t.Errorf("reload in progress at shutdown: %v, want the handler's answer", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still there after Serve returned: %v", err)
	}
	if _, err := GetStatus(testContext(t), path); !errors.Is(err, ErrNotRunning) {
		t.Errorf("GetStatus after shutdown: %v, want ErrNotRunning", err)
	}
}

func TestAuthorize(t *testing.T) {
	tests := []struct {
		name    string
		uid     uint32
		self    uint32
		wantErr string
	}{
		{name: "root, daemon as root", uid: 0, self: 0},
		{name: "root, daemon as a service user", uid: 0, self: 990},
		{name: "the daemon's own user", uid: 990, self: 990},
		{name: "another user", uid: 1000, self: 0, wantErr: "permission denied: uid 1000 (pid 77) may not use the mptcpd control socket (root only)"},
		{name: "another user, daemon as a service user", uid: 1000, self: 990, wantErr: "permission denied: uid 1000 (pid 77) may not use the mptcpd control socket (root only)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := authorize(&unix.Ucred{Pid: 77, Uid: tt.uid, Gid: tt.uid}, tt.self)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("authorize(uid %d, self %d) = %q, want %q", tt.uid, tt.self, got, tt.wantErr)
			}
		})
	}
}

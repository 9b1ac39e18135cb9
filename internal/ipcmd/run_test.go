package ipcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/pm"
)

// fakeKernel records the requests commands make and answers from fixed
// state. It counts dials, to check that a batch shares one connection.
type fakeKernel struct {
	calls  []string
	eps    []mptcp.Endpoint
	limits mptcp.Limits
	// fail makes the named method fail with this error.
	fail   map[string]error
	links  map[string]uint32
	events []pm.Event
	dials  int
}

func (k *fakeKernel) PathManager() (PathManager, error) {
	k.dials++
	return k, nil
}
func (k *fakeKernel) Links() (Links, error)   { return k, nil }
func (k *fakeKernel) Events() (Events, error) { return &fakeEvents{events: k.events}, nil }

func (k *fakeKernel) record(method string, format string, args ...any) error {
	k.calls = append(k.calls, method+" "+fmt.Sprintf(format, args...))
	return k.fail[method]
}

func (k *fakeKernel) Endpoints() ([]mptcp.Endpoint, error) {
	return k.eps, k.record("Endpoints", "")
}

func (k *fakeKernel) Endpoint(id uint8) (mptcp.Endpoint, error) {
	if err := k.record("Endpoint", "%d", id); err != nil {
		return mptcp.Endpoint{}, err
	}
	for _, e := range k.eps {
		if e.ID == id {
			return e, nil
		}
	}
	return mptcp.Endpoint{}, &pm.Error{Op: "get", Err: unix.EINVAL}
}

func (k *fakeKernel) AddEndpoint(e mptcp.Endpoint) (mptcp.Endpoint, error) {
	return e, k.record("AddEndpoint", "%v", e)
}

func (k *fakeKernel) DeleteEndpoint(id uint8) error { return k.record("DeleteEndpoint", "%d", id) }

func (k *fakeKernel) CloseInitialSubflows(a netip.Addr) error {
	return k.record("CloseInitialSubflows", "%v", a)
}

func (k *fakeKernel) SetFlags(e mptcp.Endpoint) error {
	return k.record("SetFlags", "%v", e)
}

func (k *fakeKernel) Flush() error { return k.record("Flush", "") }

func (k *fakeKernel) Limits() (mptcp.Limits, error) { return k.limits, k.record("Limits", "") }

func (k *fakeKernel) SetLimits(u mptcp.LimitsUpdate) error {
	show := func(p *uint32) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprint(*p)
	}
	return k.record("SetLimits", "add_addr_accepted %s subflows %s", show(u.AddAddrAccepted), show(u.Subflows))
}

func (k *fakeKernel) IndexByName(name string) (uint32, bool, error) {
	idx, ok := k.links[name]
	return idx, ok, nil
}

func (k *fakeKernel) NameByIndex(index uint32) (string, error) {
	for name, idx := range k.links {
		if idx == index {
			return name, nil
		}
	}
	return fmt.Sprintf("if%d", index), nil
}

// fakeEvents hands out its events, then waits for the end of ctx.
type fakeEvents struct {
	events []pm.Event
	closed bool
}

func (e *fakeEvents) Next(ctx context.Context) (pm.Event, error) {
	if len(e.events) == 0 {
		<-ctx.Done()
		return pm.Event{}, ctx.Err()
	}
	ev := e.events[0]
	e.events = e.events[1:]
	return ev, nil
}

func (e *fakeEvents) Close() error { e.closed = true; return nil }

func newEnv(k *fakeKernel) (Env, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	return Env{Stdout: &stdout, Stderr: &stderr, Kernel: k}, &stdout, &stderr
}

func TestRun(t *testing.T) {
	tests := []struct {
		args      string
		wantCalls []string
	}{
		{"endpoint add 192.0.2.1 dev eth1 id 3 subflow backup", []string{"AddEndpoint 192.0.2.1 id 3 subflow backup ifindex 4"}},
		{"endpoint add ::ffff:192.0.2.1 signal port 2000", []string{"AddEndpoint ::ffff:192.0.2.1 port 2000 signal"}},
		{"endpoint delete id 3", []string{"DeleteEndpoint 3"}},
		{"endpoint delete id 0 192.0.2.1", []string{"CloseInitialSubflows 192.0.2.1"}},
		// change sends exactly the flags named: the rest of backup and
		// fullmesh is cleared, as ip does.
		{"endpoint change id 1 backup", []string{"SetFlags 0.0.0.0 id 1 backup"}},
		{"endpoint change id 1 nobackup", []string{"SetFlags 0.0.0.0 id 1"}},
		{"endpoint change id 1 fullmesh nobackup", []string{"SetFlags 0.0.0.0 id 1 fullmesh"}},
		{"endpoint change 192.0.2.1 port 2000 backup", []string{"SetFlags 192.0.2.1 port 2000 backup"}},
		{"endpoint flush", []string{"Flush "}},
		{"limits set subflows 4", []string{"SetLimits add_addr_accepted - subflows 4"}},
		{"limits set", []string{"SetLimits add_addr_accepted - subflows -"}},
		{"limits show", []string{"Limits "}},
		{"endpoint show", []string{"Endpoints "}},
		{"endpoint show id 2", []string{"Endpoint 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			k := &fakeKernel{links: map[string]uint32{"eth1": 4}, eps: []mptcp.Endpoint{ep(2, "192.0.2.2", 0, 0)}}
			env, _, _ := newEnv(k)
			if err := Run(context.Background(), env, strings.Fields(tt.args)); err != nil {
				t.Fatalf("Run: %v", err)
			}
			// mptcp.Endpoint.String prints an invalid address as "invalid IP".
			got := strings.ReplaceAll(strings.Join(k.calls, "\n"), "invalid IP", "0.0.0.0")
			if diff := cmp.Diff(strings.Join(tt.wantCalls, "\n"), got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunShow(t *testing.T) {
	k := &fakeKernel{
		links: map[string]uint32{"eth1": 4},
		eps: []mptcp.Endpoint{
			{ID: 1, Addr: netip.MustParseAddr("192.0.2.1"), Flags: mptcp.FlagSubflow, IfIndex: 4},
			{ID: 2, Addr: netip.MustParseAddr("192.0.2.2"), Flags: mptcp.FlagSignal | mptcp.FlagLaminar, IfIndex: 9},
		},
		limits: mptcp.Limits{AddAddrAccepted: 1, Subflows: 3},
	}
	tests := []struct {
		args   string
		format Format
		want   string
	}{
		{"endpoint show", Format{}, "192.0.2.1 id 1 subflow dev eth1 \n192.0.2.2 id 2 signal laminar dev if9 \n"},
		{"endpoint show id 1", Format{}, "192.0.2.1 id 1 subflow dev eth1 \n"},
		{"endpoint show id 1", Format{JSON: true}, `[{"address":"192.0.2.1","id":1,"subflow":true,"dev":"eth1"}]` + "\n"},
		{"limits show", Format{}, "add_addr_accepted 1 subflows 3 \n"},
		{"limits", Format{JSON: true}, `{"add_addr_accepted":1,"subflows":3}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			env, stdout, _ := newEnv(k)
			env.Format = tt.format
			if err := Run(context.Background(), env, strings.Fields(tt.args)); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if diff := cmp.Diff(tt.want, stdout.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		args     string
		fail     map[string]error
		wantMsg  string
		wantCode int
		wantIs   error
	}{
		{"endpoint add 192.0.2.1 dev eth9", nil, `device "eth9" does not exist in this network namespace`, ExitUsage, nil},
		{"endpoint add 192.0.2.1 id 3", map[string]error{"AddEndpoint": &pm.Error{Op: "add endpoint 192.0.2.1 id 3", Err: unix.EBUSY, Message: "too many addresses or duplicate one: -16"}},
			"add endpoint 192.0.2.1 id 3: device or resource busy (kernel: too many addresses or duplicate one: -16); endpoint id 3 is taken", ExitFailure, unix.EBUSY},
		{"endpoint add ::ffff:192.0.2.1", map[string]error{"AddEndpoint": &pm.Error{Op: "add endpoint 192.0.2.1 id 0", Err: unix.EEXIST}},
			"add endpoint 192.0.2.1 id 0: file exists; an endpoint with address 192.0.2.1 already exists (an IPv4-mapped IPv6 address is the same as its IPv4 address)", ExitFailure, unix.EEXIST},
		{"endpoint delete id 7", map[string]error{"DeleteEndpoint": &pm.Error{Op: "delete endpoint id 7", Err: unix.EINVAL}},
			"delete endpoint id 7: invalid argument; no endpoint has id 7", ExitFailure, unix.EINVAL},
		{"limits set subflows 9", map[string]error{"SetLimits": &pm.Error{Op: "set limits subflows 9", Err: unix.EINVAL, Message: "limit greater than maximum (8)"}},
			"set limits subflows 9: invalid argument (kernel: limit greater than maximum (8)); each limit is 0..8", ExitFailure, unix.EINVAL},
		{"endpoint flush", map[string]error{"Flush": &pm.Error{Op: "flush endpoints", Err: unix.EPERM}},
			"flush endpoints: operation not permitted: needs CAP_NET_ADMIN in the network namespace", ExitFailure, pm.ErrPermission},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			k := &fakeKernel{links: map[string]uint32{"eth1": 4}, fail: tt.fail}
			env, _, _ := newEnv(k)
			err := Run(context.Background(), env, strings.Fields(tt.args))
			if err == nil {
				t.Fatal("Run succeeded, want an error")
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("error:\n got %s\nwant %s", err, tt.wantMsg)
			}
			if got := ExitCode(err); got != tt.wantCode {
				t.Errorf("ExitCode = %d, want %d", got, tt.wantCode)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(err, %v) = false", tt.wantIs)
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	k := &fakeKernel{}
	env, stdout, _ := newEnv(k)
	if err := Run(context.Background(), env, []string{"endpoint", "add", "help"}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if diff := cmp.Diff(Usage("mptcpd", "endpoint add"), stdout.String()); diff != "" {
		t.Errorf("help (-want +got):\n%s", diff)
	}
	if k.dials != 0 {
		t.Errorf("help dialed the kernel %d times", k.dials)
	}
}

func TestMonitor(t *testing.T) {
	k := &fakeKernel{events: []pm.Event{{Type: pm.EventCreated}, {Type: pm.EventClosed}}}
	env, stdout, _ := newEnv(k)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, env, []string{"monitor"}) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("monitor ended with %v, want nil on cancellation", err)
	}
	want := "[       CREATED]\n[        CLOSED]\n"
	if diff := cmp.Diff(want, stdout.String()); diff != "" {
		t.Errorf("monitor output (-want +got):\n%s", diff)
	}
}

func TestReport(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"usage", &UsageError{Msg: "bad", Topic: "endpoint add"}, "Error: bad\nTry \"mptcpd endpoint add help\".\n"},
		{"usage, overview", &UsageError{Msg: "bad"}, "Error: bad\nTry \"mptcpd help\".\n"},
		{"kernel", &pm.Error{Op: "flush endpoints", Err: unix.EINTR}, "Error: flush endpoints: interrupted system call\n"},
		{"batch", &BatchError{Failed: 2}, ""},
		{"nil", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			Report(&b, "mptcpd", tt.err)
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("Report (-want +got):\n%s", diff)
			}
		})
	}
}

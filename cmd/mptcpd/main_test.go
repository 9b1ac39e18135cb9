package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mptcpd/mptcpd/internal/nstest"
	"github.com/mptcpd/mptcpd/internal/testbin"
	"github.com/mptcpd/mptcpd/pkg/netns"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		args     string
		want     options
		wantRest []string
	}{
		{"endpoint show", options{}, []string{"endpoint", "show"}},
		{"-n blue -j -p endpoint show", options{netns: "blue", json: true, pretty: true}, []string{"endpoint", "show"}},
		{"-netns /proc/1/ns/net limits", options{netns: "/proc/1/ns/net"}, []string{"limits"}},
		{"--netns blue --json e", options{netns: "blue", json: true}, []string{"e"}},
		{"-ne blue -js -pr e", options{netns: "blue", json: true, pretty: true}, []string{"e"}},
		{"-force -batch f.txt", options{force: true, batch: "f.txt", batchSet: true}, nil},
		{"-fo -b -", options{force: true, batch: "-", batchSet: true}, nil},
		{"-h", options{help: true}, nil},
		{"--help", options{help: true}, nil},
		{"-V", options{version: true}, nil},
		{"--version", options{version: true}, nil},
		{"-- -j", options{}, []string{"-j"}},
		{"-j endpoint show -p", options{json: true}, []string{"endpoint", "show", "-p"}},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			got, rest, err := parseOptions(strings.Fields(tt.args))
			if err != nil {
				t.Fatalf("parseOptions: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(options{})); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRest, rest, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rest (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		word string
		want string // "" when none
	}{
		{"endpoint", "endpoint"},
		{"e", "endpoint"},
		{"endp", "endpoint"},
		{"l", "limits"},
		{"m", "monitor"},
		{"h", "help"},
		{"version", "version"},
		{"v", ""}, // only the ip-mptcp words take prefixes
		{"", ""},
		{"endpoints", ""},
	}
	for _, tt := range tests {
		cmd, ok := lookup(commands(), tt.word)
		got := ""
		if ok {
			got = cmd.name
		}
		if got != tt.want {
			t.Errorf("lookup(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}

func TestRunWithoutKernel(t *testing.T) {
	var help bytes.Buffer
	if err := writeHelp(&help); err != nil {
		t.Fatal(err)
	}
	names := strings.Join(commandNames(), ", ")
	tests := []struct {
		args       string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"version", 0, "mptcpd dev\n", ""},
		{"-V", 0, "mptcpd dev\n", ""},
		{"help", 0, help.String(), ""},
		{"-h", 0, help.String(), ""},
		{"", 2, "", help.String() + "Error: missing command\nTry \"mptcpd help\".\n"},
		{"bogus", 2, "", "Error: unknown command \"bogus\": expected one of " + names + "\nTry \"mptcpd help\".\n"},
		{"-x endpoint", 2, "", "Error: unknown option \"-x\": the options are -netns, -json, -pretty, -batch, -force, -help, -Version\nTry \"mptcpd help\".\n"},
		{"-n", 2, "", "Error: option -n needs a value: -netns NETNS\nTry \"mptcpd help\".\n"},
		{"-batch f endpoint show", 2, "", "Error: -batch takes its commands from the file, not from the command line (\"endpoint show\")\nTry \"mptcpd help\".\n"},
		{"help bogus", 2, "", "Error: no help for \"bogus\": the commands are " + names + "\nTry \"mptcpd help\".\n"},
		{"version --help", 0, "Usage: mptcpd version\nPrints the version of mptcpd.\n", ""},
		{"endpoint add 192.0.2.1 bogus", 2, "", "Error: invalid argument \"bogus\": expected an IPv4 or IPv6 address, a flag (signal, subflow, backup, fullmesh, laminar), or id ID, dev NAME, port NR\nTry \"mptcpd endpoint add help\".\n"},
		{"-n no-such-namespace-here endpoint show", 1, "", "Error: network namespace \"no-such-namespace-here\" not found (no /run/netns/no-such-namespace-here; create it with `ip netns add no-such-namespace-here`)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), strings.Fields(tt.args), strings.NewReader(""), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d", code, tt.wantCode)
			}
			if diff := cmp.Diff(tt.wantStdout, stdout.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStderr, stderr.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHelpForEveryCommand checks that `help COMMAND` and `COMMAND --help`
// answer for every command of the table, without a kernel.
func TestHelpForEveryCommand(t *testing.T) {
	for _, name := range commandNames() {
		if name == "help" {
			continue
		}
		for _, args := range [][]string{{"help", name}, {name, "--help"}, {name, "-h"}} {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
			if code != 0 || !strings.HasPrefix(stdout.String(), "Usage: mptcpd "+name) {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want usage of %s", args, code, stdout.String(), stderr.String(), name)
			}
		}
	}
}

// TestRunBatch runs a batch from standard input in a namespace and checks
// what the kernel holds afterwards.
func TestRunBatch(t *testing.T) {
	ns := nstest.NewNS(t)
	in := "mptcp endpoint add 192.0.2.1 id 1 subflow\n" +
		"endpoint add 192.0.2.2 id 2 signal # a comment\n" +
		"limits set subflows 3\n"
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-n", ns, "-batch", "-"}, strings.NewReader(in), &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d: %s", code, stderr.String())
	}
	want := "192.0.2.1 id 1 subflow \n192.0.2.2 id 2 signal \n"
	if diff := cmp.Diff(want, nstest.IP(t, "-n", ns, "mptcp", "endpoint", "show")); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("add_addr_accepted 0 subflows 3 \n", nstest.IP(t, "-n", ns, "mptcp", "limits", "show")); diff != "" {
		t.Errorf("limits (-want +got):\n%s", diff)
	}

	stdout.Reset()
	stderr.Reset()
	code := run(context.Background(), []string{"-n", ns, "-batch", "-"}, strings.NewReader("endpoint delete id 9\n"), &stdout, &stderr)
	if code != 1 || !strings.HasSuffix(stderr.String(), "Command failed -:1\n") {
		t.Errorf("a failing batch: exit %d, stderr %q; want 1 and \"Command failed -:1\"", code, stderr.String())
	}
}

// TestMain lets a test run this package's main as a child process: with
// MPTCPD_TEST_MAIN=1 the test binary is mptcpd.
func TestMain(m *testing.M) {
	if os.Getenv("MPTCPD_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// TestMonitorEndsOnSignal runs `mptcpd monitor`, alone and as a line of a
// batch, as a process: SIGINT must end it with status 0, and must end the
// batch too (the line after the monitor does not run).
func TestMonitorEndsOnSignal(t *testing.T) {
	for _, tt := range []struct {
		name  string
		args  []string
		stdin string
	}{
		{"monitor", []string{"monitor"}, ""},
		{"batch", []string{"-batch", "-"}, "monitor\nendpoint flush\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ns := nstest.NewNS(t)
			nstest.IP(t, "-n", ns, "mptcp", "endpoint", "add", "192.0.2.1", "id", "1", "subflow")
			var stdout, stderr testbin.Buffer
			cmd := exec.Command(os.Args[0], append([]string{"-n", ns}, tt.args...)...)
			cmd.Env = append(os.Environ(), "MPTCPD_TEST_MAIN=1")
			cmd.Stdin = strings.NewReader(tt.stdin)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

			// Once a line is printed the handler is in place (it is
			// installed before the event socket is opened).
			h, err := netns.Open(ns)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(stdout.String(), "LISTENER_CREATED") {
				if time.Now().After(deadline) {
					t.Fatalf("no event printed; stdout %q, stderr %q", stdout.String(), stderr.String())
				}
				if err := h.Do(openMPTCPListener); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("after SIGINT: %v (stderr %q), want exit status 0", err, stderr.String())
			}
			if got := nstest.IP(t, "-n", ns, "mptcp", "endpoint", "show"); got != "192.0.2.1 id 1 subflow \n" {
				t.Errorf("after the monitor, the endpoints are %q: the batch went on after the signal", got)
			}
		})
	}
}

func openMPTCPListener() error {
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	l, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	return l.Close()
}

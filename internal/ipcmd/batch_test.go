package ipcmd

import (
	"bufio"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/pkg/pm"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"endpoint add 192.0.2.1\n", []string{"endpoint", "add", "192.0.2.1"}},
		{"  a\t b \r\n", []string{"a", "b"}},
		{"", nil},
		{" \n", nil},
		{`a "b c" d`, []string{"a", "b c", "d"}},
		{`a 'b"c'd`, []string{"a", `b"c`, "d"}}, // the word after a quote starts at once
		{`a b"c"`, []string{"a", `b"c"`}},       // a quote inside a word is a letter
	}
	for _, tt := range tests {
		got, err := splitWords(tt.line)
		if err != nil {
			t.Errorf("splitWords(%q): %v", tt.line, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("splitWords(%q) (-want +got):\n%s", tt.line, diff)
		}
	}
	if _, err := splitWords(`a "b`); ExitCode(err) != ExitUsage {
		t.Errorf("splitWords with an unterminated quote: got %v, want a usage error", err)
	}
}

func TestReadCommandLine(t *testing.T) {
	type line struct {
		Text  string
		Lines int
	}
	in := "a b # comment\n" +
		"c \\\n" +
		"d\n" +
		"e # comment \\\n" + // a backslash in a comment continues nothing
		"f \\\n" +
		"g # x\n" +
		"last"
	want := []line{{"a b ", 1}, {"c d\n", 2}, {"e ", 1}, {"f g ", 2}, {"last", 1}}
	r := bufio.NewReader(strings.NewReader(in))
	var got []line
	for {
		text, n, err := readCommandLine(r)
		if n > 0 {
			got = append(got, line{text, n})
		}
		if err != nil {
			break
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}

	_, _, err := readCommandLine(bufio.NewReader(strings.NewReader("a \\\n")))
	if !errors.Is(err, errMissingContinuation) {
		t.Errorf("a last line ending in a backslash: got %v, want errMissingContinuation", err)
	}
}

func TestBatch(t *testing.T) {
	const file = "# set up\n" +
		"\n" +
		"endpoint add 192.0.2.1 id 1 subflow\n" +
		"mptcp endpoint add 192.0.2.2 \\\n" + // as written for ip -batch
		"   id 2 signal\n" +
		"endpoint add 192.0.2.3 id 3 bogus\n" +
		"limits set subflows 9\n" +
		"limits show\n"
	tests := []struct {
		name       string
		force      bool
		fail       map[string]error
		wantCalls  []string
		wantStderr string
		wantCode   int
	}{
		{
			name:      "stops at the first failure",
			wantCalls: []string{"AddEndpoint 192.0.2.1 id 1 subflow", "AddEndpoint 192.0.2.2 id 2 signal"},
			wantStderr: "Error: invalid argument \"bogus\": expected an IPv4 or IPv6 address, a flag (signal, subflow, backup, fullmesh, laminar), or id ID, dev NAME, port NR\n" +
				"Try \"mptcpd endpoint add help\".\n" +
				"Command failed cmds.batch:6\n",
			wantCode: ExitUsage,
		},
		{
			name:      "force goes on",
			force:     true,
			fail:      map[string]error{"SetLimits": &pm.Error{Op: "set limits subflows 9", Err: unix.EINVAL}},
			wantCalls: []string{"AddEndpoint 192.0.2.1 id 1 subflow", "AddEndpoint 192.0.2.2 id 2 signal", "SetLimits add_addr_accepted - subflows 9", "Limits "},
			wantStderr: "Error: invalid argument \"bogus\": expected an IPv4 or IPv6 address, a flag (signal, subflow, backup, fullmesh, laminar), or id ID, dev NAME, port NR\n" +
				"Try \"mptcpd endpoint add help\".\n" +
				"Command failed cmds.batch:6\n" +
				"Error: set limits subflows 9: invalid argument; each limit is 0..8\n" +
				"Command failed cmds.batch:7\n",
			wantCode: ExitUsage,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &fakeKernel{fail: tt.fail}
			env, _, stderr := newEnv(k)
			err := Batch(context.Background(), env, strings.NewReader(file), "cmds.batch", tt.force)
			if diff := cmp.Diff(tt.wantCalls, k.calls); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStderr, stderr.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if got := ExitCode(err); got != tt.wantCode {
				t.Errorf("ExitCode(%v) = %d, want %d", err, got, tt.wantCode)
			}
		})
	}
}

func TestBatchKernelFailure(t *testing.T) {
	k := &fakeKernel{fail: map[string]error{"DeleteEndpoint": &pm.Error{Op: "delete endpoint id 5", Err: unix.EINVAL}}}
	env, _, stderr := newEnv(k)
	err := Batch(context.Background(), env, strings.NewReader("endpoint delete id 5\nendpoint flush\n"), "-", false)
	if got := ExitCode(err); got != ExitFailure {
		t.Errorf("ExitCode(%v) = %d, want %d", err, got, ExitFailure)
	}
	want := "Error: delete endpoint id 5: invalid argument; no endpoint has id 5\nCommand failed -:1\n"
	if diff := cmp.Diff(want, stderr.String()); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
}

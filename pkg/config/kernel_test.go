package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mptcpd/mptcpd/internal/nstest"
)

// TestRulesMatchKernel checks the rules about combinations of endpoints
// against the kernel itself: each case is written both as a file and as
// `ip mptcp endpoint add` commands run in a fresh namespace, and the file
// must be accepted exactly when the kernel accepts every command.
func TestRulesMatchKernel(t *testing.T) {
	type ep struct {
		addr     string
		port, id int
		flags    []string
	}
	eight := func(n int) []ep {
		var eps []ep
		for i := 1; i <= n; i++ {
			eps = append(eps, ep{addr: fmt.Sprintf("192.0.2.%d", i), flags: []string{"subflow"}})
		}
		return eps
	}
	tests := []struct {
		name   string
		eps    []ep
		accept bool
	}{
		{"same address twice", []ep{{addr: "192.0.2.1", flags: []string{"subflow"}}, {addr: "192.0.2.1", flags: []string{"signal"}}}, false},
		{"IPv4 and its mapped form", []ep{{addr: "192.0.2.1", flags: []string{"subflow"}}, {addr: "::ffff:192.0.2.1", flags: []string{"subflow"}}}, false},
		{"same address and port twice", []ep{{addr: "192.0.2.1", port: 1000, flags: []string{"signal"}}, {addr: "192.0.2.1", port: 1000, flags: []string{"signal", "backup"}}}, false},
		{"same address, other ports", []ep{{addr: "192.0.2.1", port: 1000, flags: []string{"signal"}}, {addr: "192.0.2.1", port: 2000, flags: []string{"signal"}}}, true},
		{"same address with and without a port", []ep{{addr: "192.0.2.1", flags: []string{"subflow"}}, {addr: "192.0.2.1", port: 1000, flags: []string{"signal"}}}, true},
		{"same id twice", []ep{{addr: "192.0.2.1", id: 5}, {addr: "192.0.2.2", id: 5}}, false},
		{"distinct ids", []ep{{addr: "192.0.2.1", id: 5}, {addr: "192.0.2.2", id: 6}}, true},
		{"signal with fullmesh", []ep{{addr: "192.0.2.1", flags: []string{"signal", "fullmesh"}}}, false},
		{"subflow with fullmesh", []ep{{addr: "192.0.2.1", flags: []string{"subflow", "fullmesh", "backup"}}}, true},
		{"port on signal", []ep{{addr: "192.0.2.1", port: 1000, flags: []string{"signal", "backup"}}}, true},
		{"port on subflow", []ep{{addr: "192.0.2.1", port: 1000, flags: []string{"subflow"}}}, false},
		{"port on signal and subflow", []ep{{addr: "192.0.2.1", port: 1000, flags: []string{"signal", "subflow"}}}, false},
		{"port without flags", []ep{{addr: "192.0.2.1", port: 1000}}, false},
		{"eight endpoints", eight(8), true},
		{"nine endpoints", eight(9), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var file strings.Builder
			file.WriteString("endpoints:\n")
			for _, e := range tt.eps {
				fmt.Fprintf(&file, "  - address: %s\n", e.addr)
				if e.port != 0 {
					fmt.Fprintf(&file, "    port: %d\n", e.port)
				}
				if e.id != 0 {
					fmt.Fprintf(&file, "    id: %d\n", e.id)
				}
				fmt.Fprintf(&file, "    flags: [%s]\n", strings.Join(e.flags, ", "))
			}
			_, parseErr := Parse("case.yaml", []byte(file.String()))

			ns := nstest.NewNS(t)
			// A port makes the kernel listen, so the addresses must be local.
			for i := 1; i <= 9; i++ {
				nstest.IP(t, "-n", ns, "addr", "add", fmt.Sprintf("192.0.2.%d/32", i), "dev", "lo")
			}
			var kernelErr error
			for _, e := range tt.eps {
				args := []string{"mptcp", "endpoint", "add", e.addr}
				if e.port != 0 {
					args = append(args, "port", fmt.Sprint(e.port))
				}
				if e.id != 0 {
					args = append(args, "id", fmt.Sprint(e.id))
				}
				args = append(args, e.flags...)
				if out, err := nstest.Exec(ns, "ip", args...); err != nil {
					kernelErr = fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
					break
				}
			}

			if got := kernelErr == nil; got != tt.accept {
				t.Errorf("kernel accepts: %v, the test expects %v (%v)", got, tt.accept, kernelErr)
			}
			if got := parseErr == nil; got != tt.accept {
				t.Errorf("Parse accepts: %v, want %v like the kernel\n%s\n%v", got, tt.accept, file.String(), parseErr)
			}
		})
	}
}

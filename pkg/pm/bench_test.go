package pm

import (
	"fmt"
	"testing"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
)

// Benchmarks against the real kernel in a fresh namespace, one persistent
// socket, as KERNEL.md's "Costs" were measured.

func benchClient(b *testing.B, endpoints int) *Client {
	b.Helper()
	c, _ := dialNS(b)
	for i := 1; i <= endpoints; i++ {
		if _, err := c.AddEndpoint(mptcp.Endpoint{ID: uint8(i), Addr: addr(fmt.Sprintf("192.0.2.%d", i)), Flags: mptcp.FlagSubflow}); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// BenchmarkAddEndpoint adds one endpoint with an explicit id (ADD + the GET
// that reads it back), deleting it untimed afterwards.
func BenchmarkAddEndpoint(b *testing.B) {
	c := benchClient(b, 0)
	ep := mptcp.Endpoint{ID: 1, Addr: addr("192.0.2.1"), Flags: mptcp.FlagSubflow}
	for b.Loop() {
		if _, err := c.AddEndpoint(ep); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := c.Flush(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func BenchmarkEndpointsDump8(b *testing.B) {
	c := benchClient(b, 8)
	for b.Loop() {
		eps, err := c.Endpoints()
		if err != nil || len(eps) != 8 {
			b.Fatalf("%d endpoints, %v", len(eps), err)
		}
	}
}

func BenchmarkEndpointGet(b *testing.B) {
	c := benchClient(b, 8)
	for b.Loop() {
		if _, err := c.Endpoint(4); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSetFlags(b *testing.B) {
	c := benchClient(b, 8)
	flags := []mptcp.Flags{mptcp.FlagBackup, 0}
	i := 0
	for b.Loop() {
		if err := c.SetFlags(mptcp.Endpoint{Addr: addr("192.0.2.4"), Flags: flags[i%2]}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkSetLimits(b *testing.B) {
	c := benchClient(b, 0)
	vals := []uint32{2, 4}
	i := 0
	for b.Loop() {
		if err := c.SetLimits(mptcp.LimitsUpdate{Subflows: &vals[i%2]}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkLimits(b *testing.B) {
	c := benchClient(b, 0)
	for b.Loop() {
		if _, err := c.Limits(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeleteEndpoint includes the RCU grace period the kernel waits
// for on every delete.
func BenchmarkDeleteEndpoint(b *testing.B) {
	c := benchClient(b, 0)
	ep := mptcp.Endpoint{ID: 1, Addr: addr("192.0.2.1"), Flags: mptcp.FlagSubflow}
	for b.Loop() {
		b.StopTimer()
		if _, err := c.AddEndpoint(ep); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := c.DeleteEndpoint(1); err != nil {
			b.Fatal(err)
		}
	}
}

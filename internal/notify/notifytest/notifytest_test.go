package notifytest_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/internal/notify/notifytest"
)

func TestOrder(t *testing.T) {
	sock := notifytest.Listen(t)
	conn, err := net.Dial("unixgram", sock.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	want := []string{"READY=1\nSTATUS=a", "WATCHDOG=1", "STOPPING=1"}
	for _, d := range want {
		if _, err := conn.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, err := sock.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := sock.NextN(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, append([]string{first}, rest...)); diff != "" {
		t.Errorf("Next (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, sock.Received()); diff != "" {
		t.Errorf("Received (-want +got):\n%s", diff)
	}
}

func TestNextWaitsForContext(t *testing.T) {
	sock := notifytest.Listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d, err := sock.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next on a silent socket = %q, %v; want context.Canceled", d, err)
	}
}

func TestScrub(t *testing.T) {
	tests := []struct{ in, want string }{
		{"RELOADING=1\nMONOTONIC_USEC=123456789", "RELOADING=1\nMONOTONIC_USEC=N"},
		{"MONOTONIC_USEC=42\nRELOADING=1", "MONOTONIC_USEC=N\nRELOADING=1"},
		{"RELOADING=1\nMONOTONIC_USEC=", "RELOADING=1\nMONOTONIC_USEC="},
		{"RELOADING=1\nMONOTONIC_USEC=12x", "RELOADING=1\nMONOTONIC_USEC=12x"},
		{"READY=1\nSTATUS=MONOTONIC_USEC=5", "READY=1\nSTATUS=MONOTONIC_USEC=5"},
	}
	for _, tt := range tests {
		if got := notifytest.Scrub(tt.in); got != tt.want {
			t.Errorf("Scrub(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

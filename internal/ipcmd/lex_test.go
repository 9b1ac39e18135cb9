package ipcmd

import (
	"net/netip"
	"testing"
)

func TestMatches(t *testing.T) {
	tests := []struct {
		word, keyword string
		want          bool
	}{
		{"e", "endpoint", true},
		{"endpoint", "endpoint", true},
		{"endpoints", "endpoint", false},
		{"", "endpoint", false},
		{"x", "endpoint", false},
		{"End", "endpoint", false},
	}
	for _, tt := range tests {
		if got := matches(tt.word, tt.keyword); got != tt.want {
			t.Errorf("matches(%q, %q) = %v, want %v", tt.word, tt.keyword, got, tt.want)
		}
	}
}

func TestParseUint(t *testing.T) {
	tests := []struct {
		in     string
		max    uint64
		want   uint64
		wantOK bool
	}{
		{"0", 255, 0, true},
		{"255", 255, 255, true},
		{"256", 255, 0, false},
		{"0x10", 255, 16, true},
		{"0XfF", 255, 255, true},
		{"010", 255, 8, true},  // octal, as C's strtoul with base 0
		{"08", 255, 0, false},  // "0" then a stray "8"
		{"0x", 255, 0, false},  // "0" then a stray "x"
		{" 7", 255, 7, true},   // strtoul skips leading white space
		{"+7", 255, 7, true},   // and takes a sign
		{"-0", 255, 0, true},   // minus zero is zero
		{"-1", 255, 0, false},  // minus one wraps to the maximum
		{"7 ", 255, 0, false},  // trailing characters
		{"", 255, 0, false},    // no digits
		{"1_0", 255, 0, false}, // no Go-style separators
		{"0b1", 255, 0, false}, // no Go-style binary
		{"4294967295", 1<<32 - 1, 1<<32 - 1, true},
		{"4294967296", 1<<32 - 1, 0, false},
		{"99999999999999999999999", 1<<32 - 1, 0, false}, // overflow
	}
	for _, tt := range tests {
		got, ok := parseUint(tt.in, tt.max)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseUint(%q, %d) = %d, %v; want %d, %v", tt.in, tt.max, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" when invalid
	}{
		{"192.0.2.1", "192.0.2.1"},
		{"10.8", "10.8.0.0"}, // iproute2's legacy notation
		{"10", "10.0.0.0"},
		{"0x7f.1", "127.1.0.0"},
		{"010.0.0.1", "8.0.0.1"},
		{"1.2.3.4.5", ""},
		{"256.1.1.1", ""},
		{"1..2", ""},
		{"1.2.3.", ""},
		{"1.2.3.4/24", ""},
		{"2001:db8::1", "2001:db8::1"},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.1"}, // stays mapped, as typed
		{"fe80::1%eth0", ""},                     // inet_pton takes no zone
		{"2001:db8::g", ""},
		{"signal", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := parseAddr(tt.in)
		if tt.want == "" {
			if ok {
				t.Errorf("parseAddr(%q) = %v, want invalid", tt.in, got)
			}
			continue
		}
		if !ok || got.String() != tt.want {
			t.Errorf("parseAddr(%q) = %v, %v; want %s", tt.in, got, ok, tt.want)
		}
	}
}

func TestFormatAddr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"2001:db8::1", "2001:db8::1"},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
		{"::102:304", "::1.2.3.4"}, // glibc's inet_ntop: IPv4-compatible form
		{"::1", "::1"},
		{"::", "::"},
		{"::102", "::102"},
	}
	for _, tt := range tests {
		if got := formatAddr(netip.MustParseAddr(tt.in)); got != tt.want {
			t.Errorf("formatAddr(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidIfName(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"eth0", true},
		{"a23456789012345", true},
		{"a234567890123456", false}, // 16 bytes
		{"", false},
		{"a/b", false},
		{"a b", false},
	}
	for _, tt := range tests {
		if got := validIfName(tt.in); got != tt.want {
			t.Errorf("validIfName(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestIfIndexFromName(t *testing.T) {
	tests := []struct {
		in     string
		want   uint32
		wantOK bool
	}{
		{"if7", 7, true},
		{"if7x", 7, true}, // sscanf ignores what follows the number
		{"if", 0, false},
		{"eth0", 0, false},
		{"if-1", 4294967295, true},
	}
	for _, tt := range tests {
		got, ok := ifIndexFromName(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ifIndexFromName(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

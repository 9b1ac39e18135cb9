package ipcmd

import (
	"net/netip"
	"strings"
)

// matches reports whether word is a non-empty prefix of keyword: iproute2's
// matches(), which lets a person type `endp sh` for `endpoint show`. Where
// two keywords share a prefix, the one tested first wins, so callers test
// keywords in iproute2's order.
func matches(word, keyword string) bool {
	return word != "" && strings.HasPrefix(keyword, word)
}

// strtoul reads an unsigned number the way C's strtoul(s, &end, 0) does, as
// iproute2 reads ids, ports and limits: leading white space, an optional
// sign (a minus negates modulo 2^64), then hex after "0x", octal after a
// leading "0", else decimal. It returns the value (saturated at the maximum
// on overflow), the unread rest, and whether any digit was read.
func strtoul(s string) (val uint64, rest string, ok bool) {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	base := uint64(10)
	switch {
	case i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && i+2 < len(s) && hexDigit(s[i+2]) >= 0:
		base = 16
		i += 2
	case i < len(s) && s[i] == '0':
		base = 8
	}
	start := i
	overflow := false
	for ; i < len(s); i++ {
		d := hexDigit(s[i])
		if d < 0 || uint64(d) >= base {
			break
		}
		if val > (^uint64(0)-uint64(d))/base {
			overflow = true
		}
		val = val*base + uint64(d)
	}
	if i == start {
		return 0, s, false
	}
	if overflow {
		return ^uint64(0), s[i:], true
	}
	if neg {
		val = -val
	}
	return val, s[i:], true
}

func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// parseUint reads a whole word as a number no greater than max, as
// iproute2's get_u8/get_u16/get_u32 do (so "0x10" is 16 and "010" is 8).
func parseUint(s string, max uint64) (uint64, bool) {
	v, rest, ok := strtoul(s)
	if !ok || rest != "" || v > max {
		return 0, false
	}
	return v, true
}

// parseAddr reads an endpoint address as iproute2's get_addr does: a word
// with a colon is IPv6 (inet_pton: no zone), any other word is IPv4 in the
// legacy notation where each part may be hex or octal and missing trailing
// parts are zero ("10.8" is 10.8.0.0). iproute2 also accepts "default",
// "any" and "all", which name no address; callers reject those themselves.
func parseAddr(s string) (netip.Addr, bool) {
	if strings.Contains(s, ":") {
		if strings.Contains(s, "%") {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		return a, true
	}
	var b [4]byte
	for i := 0; i < 4; i++ {
		n, rest, ok := strtoul(s)
		if !ok || n > 255 {
			return netip.Addr{}, false
		}
		b[i] = byte(n)
		if rest == "" {
			return netip.AddrFrom4(b), true
		}
		if i == 3 || rest[0] != '.' {
			return netip.Addr{}, false
		}
		s = rest[1:]
	}
	return netip.Addr{}, false
}

// ifNameSize is IFNAMSIZ: a device name has at most 15 bytes.
const ifNameSize = 16

// validIfName is iproute2's check_ifname, which mirrors the kernel's
// dev_valid_name: 1 to 15 bytes, no slash and no white space.
func validIfName(name string) bool {
	if name == "" || len(name) >= ifNameSize {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || isCSpace(name[i]) {
			return false
		}
	}
	return true
}

// ifIndexFromName reads the "ifN" form iproute2 prints for a device index
// that has no device and accepts back (sscanf "if%u": trailing garbage is
// ignored, a sign is allowed).
func ifIndexFromName(name string) (uint32, bool) {
	rest, ok := strings.CutPrefix(name, "if")
	if !ok {
		return 0, false
	}
	v, _, ok := strtoul(rest)
	if !ok {
		return 0, false
	}
	return uint32(v), true
}

// formatAddr prints an address as glibc's inet_ntop does, which is what
// iproute2 prints. It differs from netip.Addr.String in one case only: an
// IPv6 address whose first 96 bits are zero and whose next 16 are not is
// printed with a dotted IPv4 tail ("::1.2.3.4", the deprecated
// IPv4-compatible form).
func formatAddr(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() && a.Zone() == "" {
		b := a.As16()
		zero := true
		for _, x := range b[:12] {
			if x != 0 {
				zero = false
				break
			}
		}
		if zero && (b[12] != 0 || b[13] != 0) {
			return "::" + netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}).String()
		}
	}
	return a.String()
}

package config

import (
	"fmt"
	"strings"
)

// maxIfNameLen is the longest device name Linux accepts (IFNAMSIZ 16 less
// the terminating NUL).
const maxIfNameLen = 15

// checkIfName returns why name cannot be a Linux device name, or "". The
// rules are the kernel's dev_valid_name: 1..15 bytes, not "." or "..", no
// '/', ':' or whitespace. A '%' never survives in a real name (the kernel
// reads it as a template such as eth%d), and control characters, which
// Linux would take, are refused as surely a mistake.
func checkIfName(name string) string {
	switch {
	case name == "":
		return "is empty; Linux device names are 1..15 bytes"
	case len(name) > maxIfNameLen:
		return fmt.Sprintf("is %d bytes long; Linux device names are 1..%d bytes", len(name), maxIfNameLen)
	case name == "." || name == "..":
		return fmt.Sprintf("cannot be %q: Linux refuses it as a device name", name)
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '/':
			return "contains '/', which Linux does not allow in device names"
		case c == ':':
			return "contains ':', which Linux does not allow in device names (eth0:1 is an old alias label, not a device)"
		case c == '%':
			return "contains '%', which Linux reads as a name template (eth%d), never part of a device's name"
		case isKernelSpace(c):
			return "contains whitespace, which Linux does not allow in device names"
		case c < 0x20 || c == 0x7f:
			return "contains a control character"
		}
	}
	return ""
}

// isKernelSpace is the kernel's isspace, which works on Latin-1 bytes and so
// also counts 0xA0 (no-break space).
func isKernelSpace(c byte) bool {
	return strings.IndexByte(" \t\n\v\f\r", c) >= 0 || c == 0xa0
}

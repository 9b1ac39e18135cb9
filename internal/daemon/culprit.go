package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/pkg/netns"
)

// managers are the programs known to manage MPTCP endpoints, by the
// command name the kernel shows for them.
var managers = map[string]string{
	"NetworkManager": "NetworkManager (its connection.mptcp-flags)",
	"mptcpd":         "Intel's mptcpd",
}

// guessCulprit looks for another endpoint manager running in the same
// network namespace and names it; processes of other namespaces cannot
// touch this one's endpoints.
func guessCulprit(ns netns.NS) string {
	want, err := nsInode(ns)
	if err != nil {
		return "unknown"
	}
	self := os.Getpid()
	selfExe, _ := os.Readlink("/proc/self/exe")
	procs, _ := filepath.Glob("/proc/[0-9]*")
	// A manager whose namespace cannot be read (the hardened unit has no
	// CAP_SYS_PTRACE to look into other processes) is named as a maybe,
	// unless one is found for certain.
	maybe := ""
	for _, dir := range procs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil || pid == self {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(dir, "comm"))
		if err != nil {
			continue
		}
		name, ok := managers[strings.TrimSpace(string(comm))]
		if !ok {
			continue
		}
		if exe, _ := os.Readlink(filepath.Join(dir, "exe")); exe != "" && exe == selfExe {
			continue // another copy of this program (say, a second mptcpd run)
		}
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(dir, "ns", "net"), &st); err != nil {
			if maybe == "" && (err == unix.EACCES || err == unix.EPERM) {
				maybe = fmt.Sprintf("%s, pid %d (perhaps: its network namespace cannot be read without CAP_SYS_PTRACE)", name, pid)
			}
			continue
		}
		if st.Ino != want {
			continue
		}
		return fmt.Sprintf("%s, pid %d", name, pid)
	}
	if maybe != "" {
		return maybe
	}
	if _, err := os.Stat("/proc/1/comm"); err != nil && self != 1 {
		// ProtectProc=invisible (the shipped unit) hides every process
		// with more privilege than this one, NetworkManager included.
		return "unknown: other processes are hidden from mptcpd (the service's ProtectProc=); look for NetworkManager (connection.mptcp-flags) or Intel's mptcpd"
	}
	return "unknown: no NetworkManager or other MPTCP daemon runs in this namespace (someone running `ip mptcp` by hand, or a script?)"
}

// nsInode identifies a network namespace by its nsfs inode.
func nsInode(ns netns.NS) (uint64, error) {
	var st unix.Stat_t
	if ns.IsCurrent() {
		if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
			return 0, err
		}
		return st.Ino, nil
	}
	if err := unix.Fstat(ns.FD(), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

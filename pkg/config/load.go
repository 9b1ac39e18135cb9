package config

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// MaxFileSize bounds what Load (and the daemon) reads: a real file is a few kilobytes, and a
// path pointing at a device or a runaway file must not exhaust memory.
const MaxFileSize = 1 << 20

// LoadOption changes what Load checks.
type LoadOption func(*loadOptions)

type loadOptions struct {
	secure bool
}

// RequireSecureFile makes Load refuse a file that someone other than root
// could change (see CheckFileSecurity). The check is made on the file Load
// opened, so a file swapped in between cannot slip through. `apply` and the
// daemon use it; `check` does not, since it validates candidate files in
// temporary directories.
func RequireSecureFile() LoadOption {
	return func(o *loadOptions) { o.secure = true }
}

// Load reads and parses the file at path (following symlinks). Parse
// errors are returned as Errors, unwrapped; failing to read the file is
// any other error.
func Load(path string, opts ...LoadOption) (*Config, error) {
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	if o.secure {
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if err := checkFileInfo(path, fi, os.Geteuid()); err != nil {
			return nil, err
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("read config %s: larger than %d bytes; this is not an mptcpd file", path, MaxFileSize)
	}
	return Parse(path, data)
}

// CheckFileSecurity refuses a config file that someone other than root
// could change: whoever can write it decides where the host's traffic
// flows. It follows symlinks (a Kubernetes ConfigMap is a chain of them
// into a root-owned directory) and checks the final file: it must be a
// regular file, writable by neither group nor others, and owned by root
// when the process runs as root.
func CheckFileSecurity(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check config file: %w", err)
	}
	return checkFileInfo(path, fi, os.Geteuid())
}

// checkFileInfo applies the rules of CheckFileSecurity to the file's
// metadata, for a process running with effective uid euid.
func checkFileInfo(path string, fi fs.FileInfo, euid int) error {
	name := path
	if target, err := filepath.EvalSymlinks(path); err == nil && target != path {
		name = fmt.Sprintf("%s (the file %s)", path, target)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("config file %s is not a regular file (%s)", name, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		who := "its group"
		switch {
		case perm&0o022 == 0o002:
			who = "every user"
		case perm&0o022 == 0o022:
			who = "its group and every user"
		}
		return fmt.Errorf("config file %s is writable by %s (mode %04o), and whoever can write it can reroute this host's traffic: run chmod go-w on it (for example chmod 644)",
			name, who, perm)
	}
	if euid == 0 {
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("config file %s: cannot tell its owner", name)
		}
		if st.Uid != 0 {
			return fmt.Errorf("config file %s is owned by uid %d, not root, and whoever can write it can reroute this host's traffic: run chown root: on it",
				name, st.Uid)
		}
	}
	return nil
}

package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeFile(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte("limits: {subflows: 2}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Chmod explicitly: WriteFile's mode is filtered by the umask.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestCheckFileSecurity(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		mode os.FileMode
		want string // "" for accepted
	}{
		{0o644, ""},
		{0o600, ""},
		{0o444, ""},
		{0o664, "writable by its group (mode 0664)"},
		{0o646, "writable by every user (mode 0646)"},
		{0o666, "writable by its group and every user (mode 0666)"},
		{0o777, "writable by its group and every user (mode 0777)"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.mode.String())
		writeFile(t, path, tt.mode)
		err := CheckFileSecurity(path)
		checkSecurityError(t, path, err, tt.want)

		// Load with RequireSecureFile applies the same rule to the file it
		// opened.
		_, err = Load(path, RequireSecureFile())
		checkSecurityError(t, path, err, tt.want)
	}
}

func checkSecurityError(t *testing.T, path string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: refused: %v", path, err)
	case want != "" && err == nil:
		t.Errorf("%s: accepted, want %q", path, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%s: error %q does not say %q", path, err, want)
	case want != "" && (!strings.Contains(err.Error(), "reroute") || !strings.Contains(err.Error(), "chmod")):
		t.Errorf("%s: error %q does not say why and how to fix it", path, err)
	}
}

func TestCheckFileSecurityFollowsSymlinks(t *testing.T) {
	// The layout of a Kubernetes ConfigMap volume: the name is a symlink
	// to ..data/name, ..data a symlink to a timestamped directory.
	dir := t.TempDir()
	target := filepath.Join(dir, "..2024_01_01_00_00_00.1")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(target, "mptcpd.yaml"), 0o644)
	if err := os.Symlink(filepath.Base(target), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "mptcpd.yaml")
	if err := os.Symlink("..data/mptcpd.yaml", link); err != nil {
		t.Fatal(err)
	}
	if err := CheckFileSecurity(link); err != nil {
		t.Errorf("symlink to a good file refused: %v", err)
	}
	if _, err := Load(link, RequireSecureFile()); err != nil {
		t.Errorf("Load through symlinks refused: %v", err)
	}

	// A symlink's own mode (always 0777) does not count, the target's does.
	if err := os.Chmod(filepath.Join(target, "mptcpd.yaml"), 0o666); err != nil {
		t.Fatal(err)
	}
	err := CheckFileSecurity(link)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(target, "mptcpd.yaml")) {
		t.Errorf("symlink to a world-writable file: %v, want a refusal naming the target file", err)
	}
}

func TestCheckFileSecurityNotRegular(t *testing.T) {
	err := CheckFileSecurity(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v, want not a regular file", err)
	}
	if err := CheckFileSecurity(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("missing file accepted")
	}
}

// fakeInfo is file metadata with a chosen owner, so that the ownership rule
// can be tested without root.
type fakeInfo struct {
	mode fs.FileMode
	uid  uint32
}

func (f fakeInfo) Name() string       { return "mptcpd.yaml" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return false }
func (f fakeInfo) Sys() any           { return &syscall.Stat_t{Uid: f.uid} }

func TestCheckFileOwner(t *testing.T) {
	tests := []struct {
		name      string
		uid       uint32
		euid      int
		wantError bool
	}{
		{"root's file, root process", 0, 0, false},
		{"user's file, root process", 1000, 0, true},
		{"user's file, user process", 1000, 1000, false},
		{"root's file, user process", 0, 1000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkFileInfo("/etc/mptcpd.yaml", fakeInfo{mode: 0o644, uid: tt.uid}, tt.euid)
			if (err != nil) != tt.wantError {
				t.Fatalf("checkFileInfo = %v, want error %v", err, tt.wantError)
			}
			if err != nil && (!strings.Contains(err.Error(), "owned by uid 1000") || !strings.Contains(err.Error(), "chown root")) {
				t.Errorf("error %q does not say who owns it and how to fix it", err)
			}
		})
	}
}

// TestCheckFileOwnerReal chowns a target file when running as root, the way
// the daemon runs.
func TestCheckFileOwnerReal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root; TestCheckFileOwner covers the rule without it")
	}
	path := filepath.Join(t.TempDir(), "mptcpd.yaml")
	writeFile(t, path, 0o644)
	if err := CheckFileSecurity(path); err != nil {
		t.Fatalf("root-owned 0644 file refused: %v", err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := CheckFileSecurity(path); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Errorf("file owned by nobody: %v, want a refusal", err)
	}
}

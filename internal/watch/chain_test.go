package watch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// realTempDir is t.TempDir with any symlinks in its own path resolved, so
// that lookups below it are plain joins.
func realTempDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func mkdirs(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestResolve(t *testing.T) {
	// Lookups are written "dir|name" with dir relative to the test's
	// directory; "ROOT" stands for the lookups that lead to that directory.
	tests := []struct {
		name    string
		setup   func(t *testing.T, root string)
		path    string
		want    []string
		wantErr bool // ELOOP
	}{
		{
			name:  "plain file",
			setup: func(t *testing.T, root string) { writeFile(t, filepath.Join(root, "a.yaml"), "x") },
			path:  "a.yaml",
			want:  []string{"ROOT", ".|a.yaml"},
		},
		{
			name:  "missing file",
			setup: func(*testing.T, string) {},
			path:  "a.yaml",
			want:  []string{"ROOT", ".|a.yaml"},
		},
		{
			name:  "missing directory stops the walk",
			setup: func(*testing.T, string) {},
			path:  "etc/a.yaml",
			want:  []string{"ROOT", ".|etc"},
		},
		{
			name:  "a file where a directory is needed stops the walk",
			setup: func(t *testing.T, root string) { writeFile(t, filepath.Join(root, "etc"), "x") },
			path:  "etc/a.yaml",
			want:  []string{"ROOT", ".|etc"},
		},
		{
			name: "relative symlink",
			setup: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, "b.yaml"), "x")
				symlink(t, "b.yaml", filepath.Join(root, "a.yaml"))
			},
			path: "a.yaml",
			want: []string{"ROOT", ".|a.yaml", ".|b.yaml"},
		},
		{
			name: "absolute symlink into another directory",
			setup: func(t *testing.T, root string) {
				mkdirs(t, filepath.Join(root, "etc"), filepath.Join(root, "srv"))
				writeFile(t, filepath.Join(root, "srv", "real.yaml"), "x")
				symlink(t, filepath.Join(root, "srv", "real.yaml"), filepath.Join(root, "etc", "a.yaml"))
			},
			path: "etc/a.yaml",
			want: []string{"ROOT", ".|etc", "etc|a.yaml", "ROOT", ".|srv", "srv|real.yaml"},
		},
		{
			name: "symlink with a parent reference",
			setup: func(t *testing.T, root string) {
				mkdirs(t, filepath.Join(root, "etc"), filepath.Join(root, "srv"))
				symlink(t, "../srv/real.yaml", filepath.Join(root, "etc", "a.yaml"))
			},
			path: "etc/a.yaml",
			want: []string{"ROOT", ".|etc", "etc|a.yaml", ".|srv", "srv|real.yaml"},
		},
		{
			name: "ConfigMap volume",
			setup: func(t *testing.T, root string) {
				cfg := filepath.Join(root, "cfg")
				mkdirs(t, filepath.Join(cfg, "..2026_12_04_10_00_00.1"))
				writeFile(t, filepath.Join(cfg, "..2026_12_04_10_00_00.1", "mptcpd.yaml"), "x")
				symlink(t, "..2026_12_04_10_00_00.1", filepath.Join(cfg, "..data"))
				symlink(t, "..data/mptcpd.yaml", filepath.Join(cfg, "mptcpd.yaml"))
			},
			path: "cfg/mptcpd.yaml",
			want: []string{"ROOT", ".|cfg", "cfg|mptcpd.yaml", "cfg|..data", "cfg|..2026_12_04_10_00_00.1", "cfg/..2026_12_04_10_00_00.1|mptcpd.yaml"},
		},
		{
			name:  "dangling symlink",
			setup: func(t *testing.T, root string) { symlink(t, "gone.yaml", filepath.Join(root, "a.yaml")) },
			path:  "a.yaml",
			want:  []string{"ROOT", ".|a.yaml", ".|gone.yaml"},
		},
		{
			name: "symlink loop",
			setup: func(t *testing.T, root string) {
				symlink(t, "b", filepath.Join(root, "a"))
				symlink(t, "a", filepath.Join(root, "b"))
			},
			path:    "a",
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := realTempDir(t)
			tt.setup(t, root)
			prefix, err := resolve(root)
			if err != nil {
				t.Fatal(err)
			}
			got, err := resolve(filepath.Join(root, tt.path))
			if tt.wantErr {
				if !errors.Is(err, syscall.ELOOP) {
					t.Errorf("resolve = %v, %v; want ELOOP", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolve: %v", err)
			}
			var want []lookup
			for _, w := range tt.want {
				if w == "ROOT" {
					want = append(want, prefix...)
					continue
				}
				dir, name, _ := strings.Cut(w, "|")
				want = append(want, lookup{dir: filepath.Join(root, dir), name: name})
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(lookup{})); diff != "" {
				t.Errorf("lookups (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveRejectsRelativePath(t *testing.T) {
	if _, err := resolve("etc/mptcpd.yaml"); err == nil {
		t.Error("resolve accepted a relative path")
	}
}

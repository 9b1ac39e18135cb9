package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"
)

// waitLimit bounds every wait for the watcher. Nothing waits for a fixed
// time: a wait ends as soon as what it waits for has happened.
const waitLimit = 10 * time.Second

// watchHarness runs a Watcher for one test and records what it saw.
type watchHarness struct {
	t    *testing.T
	root string
	w    *Watcher

	mu       sync.Mutex
	observed []fsnotify.Event
	relevant []bool
	poke     chan struct{}
	barriers int
}

func startWatching(t *testing.T, root, path string) *watchHarness {
	t.Helper()
	h := &watchHarness{t: t, root: root, poke: make(chan struct{}, 1)}
	w, err := watch(t.Context(), path, func(ev fsnotify.Event, relevant bool) {
		h.mu.Lock()
		h.observed = append(h.observed, ev)
		h.relevant = append(h.relevant, relevant)
		h.mu.Unlock()
		select {
		case h.poke <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatalf("Watch(%s): %v", path, err)
	}
	h.w = w
	t.Cleanup(func() {
		w.Close()
		for err := range drainErrors(w) {
			t.Errorf("watcher reported: %v", err)
		}
	})
	return h
}

func drainErrors(w *Watcher) func(func(error) bool) {
	return func(yield func(error) bool) {
		for {
			select {
			case err := <-w.Errors():
				if !yield(err) {
					return
				}
			default:
				return
			}
		}
	}
}

// waitChange fails the test unless a change is notified within waitLimit.
func (h *watchHarness) waitChange(after string) {
	h.t.Helper()
	select {
	case _, ok := <-h.w.Changes():
		if !ok {
			h.t.Fatalf("after %s: watcher stopped", after)
		}
	case <-time.After(waitLimit):
		h.t.Fatalf("after %s: no change notified within %v", after, waitLimit)
	}
}

// barrier returns once the watcher has handled every event caused so far. It
// creates a file in the test's directory, which is on the way to every path
// the tests watch (so it is watched) but is not itself part of the chain,
// and waits for the watcher to see that file's event: inotify delivers events
// in order, so everything before it has been handled.
func (h *watchHarness) barrier() {
	h.t.Helper()
	h.barriers++
	name := filepath.Join(h.root, fmt.Sprintf(".barrier-%d", h.barriers))
	writeFile(h.t, name, "")
	deadline := time.After(waitLimit)
	for {
		h.mu.Lock()
		i := slices.IndexFunc(h.observed, func(ev fsnotify.Event) bool { return filepath.Clean(ev.Name) == name })
		var relevant bool
		if i >= 0 {
			relevant = h.relevant[i]
		}
		h.mu.Unlock()
		if i >= 0 {
			if relevant {
				h.t.Fatalf("barrier file %s counted as relevant", name)
			}
			return
		}
		select {
		case <-h.poke:
		case <-deadline:
			h.t.Fatalf("watcher did not see the barrier file %s within %v", name, waitLimit)
		}
	}
}

// quiesce lets the watcher handle everything so far and drops the
// notifications it produced.
func (h *watchHarness) quiesce() {
	h.t.Helper()
	h.barrier()
	select {
	case <-h.w.Changes():
	default:
	}
}

// expectNoChange fails the test if anything since the last quiesce was
// notified.
func (h *watchHarness) expectNoChange(after string) {
	h.t.Helper()
	h.barrier()
	select {
	case <-h.w.Changes():
		h.t.Errorf("after %s: change notified, want none", after)
	default:
	}
}

// Actions on the file system, done the way the tools that change config
// files do them.

func writeInPlace(t *testing.T, path, data string) {
	t.Helper()
	writeFile(t, path, data) // O_TRUNC then write: same inode
}

func renameOver(t *testing.T, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	writeFile(t, tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

// repoint makes link point to target atomically, as `ln -sfn` and kubelet do:
// a new symlink renamed over the old one.
func repoint(t *testing.T, target, link string) {
	t.Helper()
	tmp := link + "_tmp"
	symlink(t, target, tmp)
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
}

// configMapSwap publishes a new version of a ConfigMap volume the way
// kubelet's atomic writer does: a new timestamped directory, a ..data_tmp
// symlink to it renamed over ..data, then the old directory removed.
func configMapSwap(t *testing.T, dir, oldVersion, newVersion, data string) {
	t.Helper()
	mkdirs(t, filepath.Join(dir, newVersion))
	writeFile(t, filepath.Join(dir, newVersion, "mptcpd.yaml"), data)
	repoint(t, newVersion, filepath.Join(dir, "..data"))
	remove(t, filepath.Join(dir, oldVersion))
}

// exchange swaps two paths atomically (renameat2 RENAME_EXCHANGE), so that
// no moment exists where either is missing.
func exchange(t *testing.T, a, b string) {
	t.Helper()
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
		t.Fatalf("exchange %s and %s: %v", a, b, err)
	}
}

type step struct {
	name       string
	do         func(t *testing.T, root string)
	wantChange bool
}

func TestWatch(t *testing.T) {
	const (
		v1 = "..2026_12_04_10_00_00.1"
		v2 = "..2026_12_04_10_05_00.2"
	)
	tests := []struct {
		name  string
		setup func(t *testing.T, root string)
		path  string // relative to the test's directory
		steps []step
	}{
		{
			name:  "in-place writes",
			setup: func(t *testing.T, root string) { writeFile(t, filepath.Join(root, "mptcpd.yaml"), "a") },
			path:  "mptcpd.yaml",
			steps: []step{
				{"write", func(t *testing.T, root string) { writeInPlace(t, filepath.Join(root, "mptcpd.yaml"), "b") }, true},
				{"write again", func(t *testing.T, root string) { writeInPlace(t, filepath.Join(root, "mptcpd.yaml"), "c") }, true},
				{"chmod", func(t *testing.T, root string) { os.Chmod(filepath.Join(root, "mptcpd.yaml"), 0o600) }, true},
			},
		},
		{
			name: "rename over the file",
			setup: func(t *testing.T, root string) {
				mkdirs(t, filepath.Join(root, "etc"))
				writeFile(t, filepath.Join(root, "etc", "mptcpd.yaml"), "a")
			},
			path: "etc/mptcpd.yaml",
			steps: []step{
				{"rename over", func(t *testing.T, root string) { renameOver(t, filepath.Join(root, "etc", "mptcpd.yaml"), "b") }, true},
				{"write the new inode", func(t *testing.T, root string) { writeInPlace(t, filepath.Join(root, "etc", "mptcpd.yaml"), "c") }, true},
				{"rename over again", func(t *testing.T, root string) { renameOver(t, filepath.Join(root, "etc", "mptcpd.yaml"), "d") }, true},
			},
		},
		{
			name:  "delete and create",
			setup: func(t *testing.T, root string) { writeFile(t, filepath.Join(root, "mptcpd.yaml"), "a") },
			path:  "mptcpd.yaml",
			steps: []step{
				{"delete", func(t *testing.T, root string) { remove(t, filepath.Join(root, "mptcpd.yaml")) }, true},
				{"create", func(t *testing.T, root string) { writeFile(t, filepath.Join(root, "mptcpd.yaml"), "b") }, true},
				{"write", func(t *testing.T, root string) { writeInPlace(t, filepath.Join(root, "mptcpd.yaml"), "c") }, true},
			},
		},
		{
			name:  "file and directory created after the watch started",
			setup: func(*testing.T, string) {},
			path:  "etc/mptcpd.yaml",
			steps: []step{
				{"unrelated file in the missing file's future directory's parent", func(t *testing.T, root string) { writeFile(t, filepath.Join(root, "other"), "x") }, false},
				{"mkdir", func(t *testing.T, root string) { mkdirs(t, filepath.Join(root, "etc")) }, true},
				{"create", func(t *testing.T, root string) { writeFile(t, filepath.Join(root, "etc", "mptcpd.yaml"), "a") }, true},
				{"write", func(t *testing.T, root string) { writeInPlace(t, filepath.Join(root, "etc", "mptcpd.yaml"), "b") }, true},
			},
		},
		{
			name: "unrelated files in the same directory",
			setup: func(t *testing.T, root string) {
				mkdirs(t, filepath.Join(root, "etc"))
				writeFile(t, filepath.Join(root, "etc", "mptcpd.yaml"), "a")
				writeFile(t, filepath.Join(root, "etc", "other.conf"), "a")
			},
			path: "etc/mptcpd.yaml",
			steps: []step{
				{"write other", func(t *testing.T, root string) { writeInPlace(t, filepath.Join(root, "etc", "other.conf"), "b") }, false},
				{"rename over other", func(t *testing.T, root string) { renameOver(t, filepath.Join(root, "etc", "other.conf"), "c") }, false},
				{"delete other", func(t *testing.T, root string) { remove(t, filepath.Join(root, "etc", "other.conf")) }, false},
				{"write the file", func(t *testing.T, root string) { writeInPlace(t, filepath.Join(root, "etc", "mptcpd.yaml"), "b") }, true},
			},
		},
		{
			name: "symlink re-pointed, and its targets edited in another directory",
			setup: func(t *testing.T, root string) {
				mkdirs(t, filepath.Join(root, "etc"), filepath.Join(root, "srv"))
				writeFile(t, filepath.Join(root, "srv", "a.yaml"), "a")
				writeFile(t, filepath.Join(root, "srv", "b.yaml"), "b")
				symlink(t, filepath.Join(root, "srv", "a.yaml"), filepath.Join(root, "etc", "mptcpd.yaml"))
			},
			path: "etc/mptcpd.yaml",
			steps: []step{
				{"edit the target in place", func(t *testing.T, root string) { writeInPlace(t, filepath.Join(root, "srv", "a.yaml"), "a2") }, true},
				{"edit a file that is no target", func(t *testing.T, root string) { writeInPlace(t, filepath.Join(root, "srv", "b.yaml"), "b2") }, false},
				{"re-point the symlink", func(t *testing.T, root string) {
					repoint(t, filepath.Join(root, "srv", "b.yaml"), filepath.Join(root, "etc", "mptcpd.yaml"))
				}, true},
				{"edit the new target", func(t *testing.T, root string) { writeInPlace(t, filepath.Join(root, "srv", "b.yaml"), "b3") }, true},
				{"edit the old target", func(t *testing.T, root string) { writeInPlace(t, filepath.Join(root, "srv", "a.yaml"), "a3") }, false},
			},
		},
		{
			name: "ConfigMap volume",
			setup: func(t *testing.T, root string) {
				cfg := filepath.Join(root, "cfg")
				mkdirs(t, filepath.Join(cfg, v1))
				writeFile(t, filepath.Join(cfg, v1, "mptcpd.yaml"), "a")
				symlink(t, v1, filepath.Join(cfg, "..data"))
				symlink(t, "..data/mptcpd.yaml", filepath.Join(cfg, "mptcpd.yaml"))
			},
			path: "cfg/mptcpd.yaml",
			steps: []step{
				{"swap ..data", func(t *testing.T, root string) { configMapSwap(t, filepath.Join(root, "cfg"), v1, v2, "b") }, true},
				{"edit the new version in place", func(t *testing.T, root string) {
					writeInPlace(t, filepath.Join(root, "cfg", v2, "mptcpd.yaml"), "c")
				}, true},
				{"unrelated file next to the volume's files", func(t *testing.T, root string) { writeFile(t, filepath.Join(root, "cfg", "notes"), "x") }, false},
				{"swap back", func(t *testing.T, root string) { configMapSwap(t, filepath.Join(root, "cfg"), v2, v1, "d") }, true},
			},
		},
		{
			name: "target's directory deleted and created again",
			setup: func(t *testing.T, root string) {
				mkdirs(t, filepath.Join(root, "srv"))
				writeFile(t, filepath.Join(root, "srv", "real.yaml"), "a")
				symlink(t, "srv/real.yaml", filepath.Join(root, "mptcpd.yaml"))
			},
			path: "mptcpd.yaml",
			steps: []step{
				{"delete the directory", func(t *testing.T, root string) { remove(t, filepath.Join(root, "srv")) }, true},
				{"create the directory", func(t *testing.T, root string) { mkdirs(t, filepath.Join(root, "srv")) }, true},
				{"create the file", func(t *testing.T, root string) { writeFile(t, filepath.Join(root, "srv", "real.yaml"), "b") }, true},
				{"write the file", func(t *testing.T, root string) { writeInPlace(t, filepath.Join(root, "srv", "real.yaml"), "c") }, true},
			},
		},
		{
			name: "watched file's directory replaced by rename",
			setup: func(t *testing.T, root string) {
				mkdirs(t, filepath.Join(root, "etc"))
				writeFile(t, filepath.Join(root, "etc", "mptcpd.yaml"), "a")
			},
			path: "etc/mptcpd.yaml",
			steps: []step{
				{"rename a new directory over it", func(t *testing.T, root string) {
					mkdirs(t, filepath.Join(root, "etc.new"))
					writeFile(t, filepath.Join(root, "etc.new", "mptcpd.yaml"), "b")
					remove(t, filepath.Join(root, "etc"))
					if err := os.Rename(filepath.Join(root, "etc.new"), filepath.Join(root, "etc")); err != nil {
						t.Fatal(err)
					}
				}, true},
				{"write the file in the new directory", func(t *testing.T, root string) {
					writeInPlace(t, filepath.Join(root, "etc", "mptcpd.yaml"), "c")
				}, true},
			},
		},
		{
			name: "watched file's directory swapped atomically with another",
			setup: func(t *testing.T, root string) {
				mkdirs(t, filepath.Join(root, "etc"), filepath.Join(root, "etc.new"))
				writeFile(t, filepath.Join(root, "etc", "mptcpd.yaml"), "a")
				writeFile(t, filepath.Join(root, "etc.new", "mptcpd.yaml"), "b")
			},
			path: "etc/mptcpd.yaml",
			steps: []step{
				// The names stay the same, only the inodes move: the watcher
				// must move its watch to the directory now called etc.
				{"exchange the directories", func(t *testing.T, root string) {
					exchange(t, filepath.Join(root, "etc.new"), filepath.Join(root, "etc"))
				}, true},
				{"write the file in the directory now called etc", func(t *testing.T, root string) {
					writeInPlace(t, filepath.Join(root, "etc", "mptcpd.yaml"), "c")
				}, true},
				{"write the file in the directory that was etc", func(t *testing.T, root string) {
					writeInPlace(t, filepath.Join(root, "etc.new", "mptcpd.yaml"), "d")
				}, false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := realTempDir(t)
			tt.setup(t, root)
			h := startWatching(t, root, filepath.Join(root, tt.path))
			h.expectNoChange("start")
			for _, s := range tt.steps {
				s.do(t, root)
				if s.wantChange {
					h.waitChange(s.name)
					h.quiesce()
				} else {
					h.expectNoChange(s.name)
				}
			}
		})
	}
}

func TestWatchStops(t *testing.T) {
	root := realTempDir(t)
	ctx, cancel := context.WithCancel(t.Context())
	w, err := Watch(ctx, filepath.Join(root, "mptcpd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-w.Changes():
		if ok {
			// A notification may have been pending; the close must follow.
			if _, ok := <-w.Changes(); ok {
				t.Error("Changes delivered twice after cancel, want it closed")
			}
		}
	case <-time.After(waitLimit):
		t.Fatal("Changes not closed after the context ended")
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close after cancel: %v", err)
	}
}

func TestWatchRelativePath(t *testing.T) {
	root := realTempDir(t)
	t.Chdir(root)
	h := startWatching(t, root, "mptcpd.yaml")
	writeFile(t, filepath.Join(root, "mptcpd.yaml"), "a")
	h.waitChange("create")
}

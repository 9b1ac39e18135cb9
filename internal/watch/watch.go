// Package watch tells the daemon when its configuration file may have
// changed, however it was changed: written in place, replaced by rename
// (editors, Ansible), deleted and created again, or swapped through symlinks
// (a Kubernetes ConfigMap volume). It also reads the file in a way that does
// not mistake a half-written or briefly missing file for the new
// configuration (ReadStable).
//
// A watch on the file itself would be lost as soon as a rename replaced the
// file's inode, and would not see a symlink being re-pointed. So the watcher
// resolves the path the way the kernel does and watches the directory of
// every entry consulted on the way (every ancestor, every symlink and what it
// points to), keeping only events for those entries. After every such event
// it resolves the path again and moves its watches to the new chain.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/fsnotify/fsnotify"
)

// maxRearms bounds how often one event makes the watcher resolve again
// because the chain moved while its watches were being placed.
const maxRearms = 8

// errorBuffer is how many errors wait for a reader before more are dropped.
const errorBuffer = 16

// Watcher reports when the file a path resolves to may have changed.
type Watcher struct {
	path    string // absolute
	fsw     *fsnotify.Watcher
	changes chan struct{}
	errs    chan error
	cancel  context.CancelFunc
	done    chan struct{}

	// observe, when set by tests, sees every event and whether it counted.
	observe func(ev fsnotify.Event, relevant bool)

	// Owned by the watcher's goroutine after Watch returns.
	watched map[string]bool            // directories with a watch
	names   map[string]map[string]bool // directory -> names in it that matter
}

// Watch starts watching path until ctx is done or Close is called. The path
// need not exist yet. Nothing is notified at the start: call Watch first and
// then read the file, so that no change falls between the two. An error means
// the watch could not be set up (no inotify, a directory on the way that
// cannot be watched, a symlink loop).
func Watch(ctx context.Context, path string) (*Watcher, error) {
	return watch(ctx, path, nil)
}

func watch(ctx context.Context, path string, observe func(fsnotify.Event, bool)) (*Watcher, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", abs, err)
	}
	w := &Watcher{
		path:    abs,
		fsw:     fsw,
		changes: make(chan struct{}, 1),
		errs:    make(chan error, errorBuffer),
		done:    make(chan struct{}),
		observe: observe,
		watched: make(map[string]bool),
	}
	if err := w.rearm(); err != nil {
		fsw.Close()
		return nil, err
	}
	ctx, w.cancel = context.WithCancel(ctx)
	go w.loop(ctx)
	return w, nil
}

// Changes delivers a value when the file may have changed since the last
// value was received: events that arrive before the reader comes collapse
// into one. The reader should read the file again (see ReadStable); a
// notification for an unchanged file is possible and harmless. The channel is
// closed when the watcher stops.
func (w *Watcher) Changes() <-chan struct{} { return w.changes }

// Errors delivers problems that do not stop the watcher (a lost event queue,
// a directory that could not be watched); each is also followed by a change
// notification, since events may have been missed. Errors nobody reads are
// dropped once the buffer is full.
func (w *Watcher) Errors() <-chan error { return w.errs }

// Close stops the watcher and waits until it has released its resources.
func (w *Watcher) Close() error {
	w.cancel()
	<-w.done
	return nil
}

func (w *Watcher) loop(ctx context.Context) {
	defer close(w.done)
	defer close(w.changes)
	defer w.fsw.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			relevant := w.relevant(ev.Name)
			if w.observe != nil {
				w.observe(ev, relevant)
			}
			if !relevant {
				continue
			}
			w.look()
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			// The queue overflowed or a read failed: events may be lost, so
			// look again as if the chain had changed.
			w.report(fmt.Errorf("watch %s: %w", w.path, err))
			w.look()
		}
	}
}

// look moves the watches to the current chain and notifies.
func (w *Watcher) look() {
	if err := w.rearm(); err != nil {
		w.report(err)
	}
	select {
	case w.changes <- struct{}{}:
	default: // a notification is already waiting
	}
}

func (w *Watcher) report(err error) {
	select {
	case w.errs <- err:
	default:
	}
}

// relevant says whether an event on name can change what the path resolves
// to or what it contains. Events on a watched directory itself (deleted,
// moved) count; so do events on any entry of the chain.
func (w *Watcher) relevant(name string) bool {
	name = filepath.Clean(name)
	if w.watched[name] {
		return true
	}
	return w.names[filepath.Dir(name)][filepath.Base(name)]
}

// rearm resolves the path, watches the directory of every lookup, and
// resolves again to catch a change made while the watches were being placed
// (it would have produced no event). It repeats until the chain holds still.
func (w *Watcher) rearm() error {
	chain, _ := resolve(w.path)
	for range maxRearms {
		watchErr := w.watchDirs(chain)
		again, resolveErr := resolve(w.path)
		if slices.Equal(chain, again) {
			w.setChain(chain)
			if resolveErr != nil {
				resolveErr = fmt.Errorf("watch %s: %w", w.path, resolveErr)
			}
			return errors.Join(resolveErr, watchErr)
		}
		chain = again
	}
	// Watch the latest chain anyway; the next event may find it still.
	watchErr := w.watchDirs(chain)
	w.setChain(chain)
	return errors.Join(fmt.Errorf("watch %s: the path kept changing while being watched", w.path), watchErr)
}

func (w *Watcher) setChain(chain []lookup) {
	w.names = make(map[string]map[string]bool)
	for _, l := range chain {
		if w.names[l.dir] == nil {
			w.names[l.dir] = make(map[string]bool)
		}
		w.names[l.dir][l.name] = true
	}
}

// watchDirs makes the set of watched directories the directories of chain.
// It adds every one again, even those watched already: a directory replaced
// under the same name (removed and created, or renamed over) is a new inode
// that the old watch does not cover, and adding an existing watch is cheap.
// (A replaced directory that lives on under another name keeps its kernel
// watch until it is deleted; fsnotify drops that watch's events.)
func (w *Watcher) watchDirs(chain []lookup) error {
	want := make(map[string]bool)
	var errs []error
	for _, l := range chain {
		if want[l.dir] {
			continue
		}
		want[l.dir] = true
		if err := w.fsw.Add(l.dir); err != nil {
			delete(want, l.dir)
			// A directory that vanished since it was resolved makes the next
			// resolution differ, which rearm handles; anything else is news.
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("watch %s: directory %s: %w", w.path, l.dir, err))
			}
		}
	}
	for dir := range w.watched {
		if !want[dir] {
			// Fails when the directory is gone, and its watch with it.
			_ = w.fsw.Remove(dir)
		}
	}
	w.watched = want
	return errors.Join(errs...)
}

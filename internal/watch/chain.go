package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxSymlinks matches the kernel's limit on symlinks followed in one lookup.
const maxSymlinks = 40

// lookup is one directory entry consulted while resolving a path: the name
// looked up and the directory it was looked up in. If any of them changes
// (created, removed, renamed over, written, re-pointed), what the path
// resolves to may have changed.
type lookup struct {
	dir  string
	name string
}

// resolve walks an absolute path one component at a time, as the kernel
// does, following symlinks, and returns every lookup it made: the ancestors,
// each symlink, each element of each symlink's target, and finally the file.
// It stops at the first entry that does not exist (or is not a directory
// where one is needed); that entry is included, since its appearance is a
// change. Other errors (permission, symlink loops) come with the lookups made
// so far.
func resolve(path string) ([]lookup, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("resolve %q: path is not absolute", path)
	}
	var lookups []lookup
	dir := "/"
	rest := components(path)
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case ".":
			continue
		case "..":
			// dir holds no symlinks, so its lexical parent is its real one.
			dir = filepath.Dir(dir)
			continue
		}
		lookups = append(lookups, lookup{dir: dir, name: name})
		full := filepath.Join(dir, name)
		fi, err := os.Lstat(full)
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			return lookups, nil
		case err != nil:
			return lookups, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if !fi.IsDir() && len(rest) > 0 {
				// Nothing can be looked up in a file; only its replacement
				// by a directory would change that.
				return lookups, nil
			}
			dir = full
			continue
		}
		if links++; links > maxSymlinks {
			return lookups, &fs.PathError{Op: "follow", Path: full, Err: syscall.ELOOP}
		}
		target, err := os.Readlink(full)
		if err != nil {
			return lookups, err
		}
		if filepath.IsAbs(target) {
			dir = "/"
		}
		rest = append(components(target), rest...)
	}
	return lookups, nil
}

// components splits a path into its non-empty elements.
func components(path string) []string {
	return strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
}

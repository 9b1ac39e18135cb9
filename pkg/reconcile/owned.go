package reconcile

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
)

// Key identifies an endpoint as the kernel does for duplicates: address and
// port. Ids are no good for this: a replaced endpoint may get another one.
type Key struct {
	Addr netip.Addr
	Port uint16
}

// KeyOf returns the endpoint's key (its address unmapped).
func KeyOf(ep mptcp.Endpoint) Key { return Key{Addr: ep.Addr.Unmap(), Port: ep.Port} }

func (k Key) String() string {
	if k.Port == 0 {
		return k.Addr.String()
	}
	return netip.AddrPortFrom(k.Addr, k.Port).String()
}

// OwnedSet is the set of endpoints mptcpd created. The zero value (nil) is
// an empty set; Add on it allocates, so use the returned set.
type OwnedSet map[Key]struct{}

// Has reports whether k is in the set.
func (s OwnedSet) Has(k Key) bool {
	_, ok := s[k]
	return ok
}

// Keys returns the keys sorted by address, then port.
func (s OwnedSet) Keys() []Key {
	keys := make([]Key, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b Key) int { return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port)) })
	return keys
}

// Clone returns an independent copy.
func (s OwnedSet) Clone() OwnedSet {
	out := make(OwnedSet, len(s))
	for k := range s {
		out[k] = struct{}{}
	}
	return out
}

// Record returns the set updated with what Apply did: deleted endpoints
// leave it, then added ones join it (a replacement at the same key stays).
func (s OwnedSet) Record(r Result) OwnedSet {
	out := s.Clone()
	for _, d := range r.Done {
		switch d.Op {
		case OpDelete:
			delete(out, KeyOf(d.Endpoint))
		case OpAdd:
			out[KeyOf(d.Endpoint)] = struct{}{}
		}
	}
	return out
}

// Retain returns the set without the keys the kernel no longer has, so that
// an endpoint someone else deleted and later re-created is not taken for
// mptcpd's.
func (s OwnedSet) Retain(observed []mptcp.Endpoint) OwnedSet {
	present := map[Key]bool{}
	for _, ep := range observed {
		present[KeyOf(ep)] = true
	}
	out := OwnedSet{}
	for k := range s {
		if present[k] {
			out[k] = struct{}{}
		}
	}
	return out
}

// OwnedStore keeps an OwnedSet in a JSON file, so that a restarted daemon
// still knows which endpoints it created.
type OwnedStore struct {
	// Path of the file. The daemon keeps it under /run, which is cleared
	// on reboot as the kernel's endpoint table is, so memory and table
	// start empty together (the service must keep the directory across
	// restarts: RuntimeDirectoryPreserve=yes).
	Path string
}

type ownedFile struct {
	Version   int             `json:"version"`
	Endpoints []ownedEndpoint `json:"endpoints"`
}

type ownedEndpoint struct {
	Address netip.Addr `json:"address"`
	Port    uint16     `json:"port"`
}

const ownedFileVersion = 1

// Load reads the set. A missing file is an empty set: nothing was created
// since boot.
func (st OwnedStore) Load() (OwnedSet, error) {
	b, err := os.ReadFile(st.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return OwnedSet{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read owned endpoints: %w", err)
	}
	var f ownedFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("read owned endpoints from %s: %w", st.Path, err)
	}
	if f.Version != ownedFileVersion {
		return nil, fmt.Errorf("read owned endpoints from %s: version %d, want %d", st.Path, f.Version, ownedFileVersion)
	}
	set := OwnedSet{}
	for _, e := range f.Endpoints {
		if !e.Address.IsValid() {
			return nil, fmt.Errorf("read owned endpoints from %s: endpoint without address", st.Path)
		}
		set[Key{Addr: e.Address.Unmap(), Port: e.Port}] = struct{}{}
	}
	return set, nil
}

// Save writes the set atomically: to a temporary file in the same
// directory, synced, then renamed over the old one, so that a crash leaves
// either the old set or the new one. The directory is created if needed.
func (st OwnedStore) Save(s OwnedSet) error {
	f := ownedFile{Version: ownedFileVersion, Endpoints: []ownedEndpoint{}}
	for _, k := range s.Keys() {
		f.Endpoints = append(f.Endpoints, ownedEndpoint{Address: k.Addr, Port: k.Port})
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("save owned endpoints: %w", err)
	}
	b = append(b, '\n')
	if err := writeFileAtomic(st.Path, b); err != nil {
		return fmt.Errorf("save owned endpoints: %w", err)
	}
	return nil
}

func writeFileAtomic(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(b); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

package reconcile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/reconcile"
)

func TestOwnedStoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "mptcpd", "owned.json")
	st := reconcile.OwnedStore{Path: path}

	empty, err := st.Load()
	if err != nil {
		t.Fatalf("Load of a missing file: %v", err)
	}
	if len(empty) != 0 {
		t.Errorf("missing file: got %v, want an empty set", empty)
	}

	set := owned("192.0.2.1", "2001:db8::1 port 443", "::ffff:198.51.100.7")
	if err := st.Save(set); err != nil {
		t.Fatal(err)
	}
	// A restarted daemon makes a new store on the same path.
	got, err := reconcile.OwnedStore{Path: path}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(set.Keys(), got.Keys(), cmpAddr); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !got.Has(reconcile.KeyOf(ep("198.51.100.7"))) {
		t.Error("an IPv4-mapped key was not stored unmapped")
	}

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{
  "version": 1,
  "endpoints": [
    {
      "address": "192.0.2.1",
      "port": 0
    },
    {
      "address": "198.51.100.7",
      "port": 0
    },
    {
      "address": "2001:db8::1",
      "port": 443
    }
  ]
}
`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("file (-want +got):\n%s", diff)
	}
}

func TestOwnedStoreSaveReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "owned.json")
	st := reconcile.OwnedStore{Path: path}
	if err := st.Save(owned("192.0.2.1", "192.0.2.2")); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(owned("192.0.2.3")); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(owned("192.0.2.3").Keys(), got.Keys(), cmpAddr); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "owned.json" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only owned.json (no temporary files left)", names)
	}
}

func TestOwnedStoreLoadErrors(t *testing.T) {
	tests := []struct {
		name, content string
	}{
		{"not JSON", "{"},
		{"unknown version", `{"version": 2, "endpoints": []}`},
		{"no address", `{"version": 1, "endpoints": [{"port": 1}]}`},
		{"bad address", `{"version": 1, "endpoints": [{"address": "nope"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "owned.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if got, err := (reconcile.OwnedStore{Path: path}).Load(); err == nil {
				t.Errorf("Load = %v, nil; want an error", got)
			}
		})
	}
}

func TestOwnedSetRecordAndRetain(t *testing.T) {
	start := owned("192.0.2.1", "192.0.2.2", "192.0.2.3")
	res := reconcile.Result{Done: []reconcile.Done{
		{Op: reconcile.OpDelete, Endpoint: ep("192.0.2.1 id 1")},
		{Op: reconcile.OpDelete, Endpoint: ep("192.0.2.2 id 2")},
		{Op: reconcile.OpAdd, Endpoint: ep("192.0.2.2 port 80 id 9 signal")}, // replaced with a port
		{Op: reconcile.OpAdd, Endpoint: ep("192.0.2.3 id 3")},                // same key again
		{Op: reconcile.OpSetFlags, Endpoint: ep("192.0.2.4 id 4 backup")},    // not an ownership change
		{Op: reconcile.OpAdd, Endpoint: ep("::ffff:192.0.2.5 id 5")},
	}}
	got := start.Record(res)
	want := owned("192.0.2.2 port 80", "192.0.2.3", "192.0.2.5")
	if diff := cmp.Diff(want.Keys(), got.Keys(), cmpAddr); diff != "" {
		t.Errorf("Record (-want +got):\n%s", diff)
	}
	if len(start) != 3 {
		t.Errorf("Record changed its receiver: %v", start.Keys())
	}
	kept := got.Retain([]mptcp.Endpoint{ep("192.0.2.3 id 3"), ep("192.0.2.2 id 2"), ep("::ffff:192.0.2.5 id 5")})
	if diff := cmp.Diff(owned("192.0.2.3", "192.0.2.5").Keys(), kept.Keys(), cmpAddr); diff != "" {
		t.Errorf("Retain (-want +got):\n%s", diff)
	}
	var nilSet reconcile.OwnedSet
	if nilSet.Has(reconcile.KeyOf(ep("192.0.2.1"))) || len(nilSet.Record(res)) != 3 {
		t.Error("a nil set does not behave as an empty one")
	}
}

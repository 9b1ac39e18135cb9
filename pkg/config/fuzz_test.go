package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks, for any input: Parse does not panic; a success formats
// to a file that parses back to an equal Config; a failure is an Errors
// list, sorted, each with a real position. The examples and the bad corpus
// are seeds, besides those under testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"../../examples/*.yaml", "testdata/bad/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, path := range files {
			data, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err != nil {
			if cfg != nil {
				t.Fatalf("Parse returned both a config and an error")
			}
			errs, ok := err.(Errors)
			if !ok || len(errs) == 0 {
				t.Fatalf("Parse error is %T (%v), want a non-empty Errors", err, err)
			}
			for i, e := range errs {
				if e.Line < 1 || e.Column < 1 || e.File != "fuzz.yaml" || e.Msg == "" {
					t.Fatalf("bad error %#v", e)
				}
				if i > 0 && (e.Line < errs[i-1].Line || e.Line == errs[i-1].Line && e.Column < errs[i-1].Column) {
					t.Fatalf("errors out of order:\n%v", errs)
				}
			}
			return
		}
		out, err := Format(cfg)
		if err != nil {
			t.Fatalf("Format of a parsed config failed: %v\ninput:\n%s", err, data)
		}
		back, err := Parse("formatted.yaml", out)
		if err != nil {
			t.Fatalf("formatted config does not parse: %v\n%s", err, out)
		}
		if !back.Equal(cfg) {
			t.Fatalf("round trip changed the config:\ninput:\n%s\nformatted:\n%s", data, out)
		}
	})
}

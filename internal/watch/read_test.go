package watch

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The ReadStable tests run in synctest bubbles: the settle delays pass in
// fake time, and a writer goroutine changes the file at exact moments
// between ReadStable's reads.

const settle = 100 * time.Millisecond

// parseRecorder's parse accepts only files that end with "end\n", so that a
// half-written file is invalid and the tests can tell which contents reached
// the parser. (A real truncated YAML file may well parse: that is why
// ReadStable compares two reads instead of trusting the parser alone.)
type parseRecorder struct{ calls []string }

func (p *parseRecorder) parse(data []byte) (string, error) {
	p.calls = append(p.calls, string(data))
	if !strings.HasSuffix(string(data), "end\n") {
		return "", errors.New("line 1: unexpected end of file")
	}
	return string(data), nil
}

func TestReadStable(t *testing.T) {
	tests := []struct {
		name    string
		initial *string // nil: missing at the start
		// changes made by a writer while ReadStable runs, at the given
		// offsets from the start (between reads, which happen at multiples
		// of settle).
		changes    []change
		retries    int
		want       string
		wantErr    func(error) bool
		wantParsed []string
	}{
		{
			name:       "a stable valid file",
			initial:    ptr("a\nend\n"),
			retries:    3,
			want:       "a\nend\n",
			wantParsed: []string{"a\nend\n"},
		},
		{
			name:    "half-written in place, then completed",
			initial: ptr("a\n"),
			changes: []change{
				{at: settle / 2, data: ptr("a\nb\n")},
				{at: settle + settle/2, data: ptr("a\nb\nend\n")},
			},
			retries: 5,
			want:    "a\nb\nend\n",
			// Only content that held still between two reads is parsed.
			wantParsed: []string{"a\nb\nend\n"},
		},
		{
			name:    "missing at first, then created",
			initial: nil,
			changes: []change{
				{at: settle / 2, data: ptr("a\nend\n")},
			},
			retries:    3,
			want:       "a\nend\n",
			wantParsed: []string{"a\nend\n"},
		},
		{
			name:    "deleted and created again between reads",
			initial: ptr("a\nend\n"),
			changes: []change{
				{at: settle / 2, data: nil},
				{at: settle + settle/2, data: ptr("b\nend\n")},
			},
			retries:    5,
			want:       "b\nend\n",
			wantParsed: []string{"b\nend\n"},
		},
		{
			name:    "missing for good",
			initial: nil,
			retries: 3,
			wantErr: func(err error) bool { return errors.Is(err, fs.ErrNotExist) },
		},
		{
			name:    "stable but invalid",
			initial: ptr("a\n"),
			retries: 2,
			wantErr: func(err error) bool { return err != nil && strings.Contains(err.Error(), "unexpected end of file") },
			// Read until retries run out, but the same bytes are parsed once.
			wantParsed: []string{"a\n"},
		},
		{
			name:    "invalid, then fixed",
			initial: ptr("a\n"),
			changes: []change{
				{at: settle + settle/2, data: ptr("a\nend\n")},
			},
			retries:    5,
			want:       "a\nend\n",
			wantParsed: []string{"a\n", "a\nend\n"},
		},
		{
			name:    "keeps changing",
			initial: ptr("0\n"),
			changes: []change{
				{at: settle / 2, data: ptr("1\nend\n")},
				{at: settle + settle/2, data: ptr("2\nend\n")},
				{at: 2*settle + settle/2, data: ptr("3\nend\n")},
			},
			retries: 2,
			wantErr: func(err error) bool { return err != nil && strings.Contains(err.Error(), "changed while being read") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mptcpd.yaml")
			if tt.initial != nil {
				writeFile(t, path, *tt.initial)
			}
			synctest.Test(t, func(t *testing.T) {
				go applyChanges(t, path, tt.changes)
				var p parseRecorder
				got, err := ReadStable(t.Context(), path, settle, tt.retries, p.parse)
				if tt.wantErr != nil {
					if !tt.wantErr(err) {
						t.Errorf("ReadStable error = %v, want a different one", err)
					}
				} else if err != nil {
					t.Errorf("ReadStable: %v", err)
				} else if got != tt.want {
					t.Errorf("ReadStable = %q, want %q", got, tt.want)
				}
				if diff := cmp.Diff(tt.wantParsed, p.calls); diff != "" {
					t.Errorf("contents handed to parse (-want +got):\n%s", diff)
				}
			})
		})
	}
}

type change struct {
	at   time.Duration
	data *string // nil: delete
}

func ptr(s string) *string { return &s }

func applyChanges(t *testing.T, path string, changes []change) {
	start := time.Now()
	for _, c := range changes {
		time.Sleep(c.at - time.Since(start))
		var err error
		if c.data == nil {
			err = os.Remove(path)
		} else {
			err = os.WriteFile(path, []byte(*c.data), 0o644)
		}
		if err != nil {
			t.Error(err)
		}
	}
}

func TestReadStableCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		parse := func([]byte) (int, error) { return 0, nil }
		if _, err := ReadStable(ctx, filepath.Join(t.TempDir(), "missing"), settle, 10, parse); !errors.Is(err, context.Canceled) {
			t.Errorf("ReadStable with a cancelled context = %v, want context.Canceled", err)
		}
	})
}

package logging

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"
)

// tempOutput is a regular file standing in for stderr.
func tempOutput(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readLines(t *testing.T, f *os.File) []string {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// streamID is the JOURNAL_STREAM value systemd would set for f.
func streamID(t *testing.T, f *os.File) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

func TestNewConsole(t *testing.T) {
	out := tempOutput(t)
	log, err := New(Options{Format: FormatConsole, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("endpoint added", zap.String("endpoint", "192.0.2.10"), zap.Uint8("id", 3))
	log.Debug("below the level")
	lines := readLines(t, out)
	if len(lines) != 1 {
		t.Fatalf("wrote %d lines, want 1: %q", len(lines), lines)
	}
	cols := strings.Split(lines[0], "\t")
	if len(cols) != 4 {
		t.Fatalf("console line %q: want time, level, message and fields separated by tabs", lines[0])
	}
	if _, err := time.Parse(time.RFC3339Nano, cols[0]); err != nil {
		t.Errorf("time column: %v", err)
	}
	want := []string{"INFO", "endpoint added", `{"endpoint": "192.0.2.10", "id": 3}`}
	if diff := cmp.Diff(want, cols[1:]); diff != "" {
		t.Errorf("console columns (-want +got):\n%s", diff)
	}
}

func TestNewJSON(t *testing.T) {
	out := tempOutput(t)
	log, err := New(Options{Format: FormatJSON, Output: out, Level: zapcore.WarnLevel})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("below the level")
	log.Warn("endpoint withheld", zap.String("endpoint", "192.0.2.10"), zap.String("reason", "link down"))
	lines := readLines(t, out)
	if len(lines) != 1 {
		t.Fatalf("wrote %d lines, want 1: %q", len(lines), lines)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatalf("line %q: %v", lines[0], err)
	}
	if ts, _ := got["time"].(string); ts == "" {
		t.Errorf("no time in %q", lines[0])
	} else if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Errorf("time: %v", err)
	}
	if c, _ := got["caller"].(string); !strings.Contains(c, "logging_test.go") {
		t.Errorf("caller = %q, want this file", c)
	}
	delete(got, "time")
	delete(got, "caller")
	want := map[string]any{"level": "warn", "msg": "endpoint withheld", "endpoint": "192.0.2.10", "reason": "link down"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON line (-want +got):\n%s", diff)
	}
}

func TestNewJournal(t *testing.T) {
	fake := &fakeJournal{}
	log, err := New(Options{Format: FormatJournal, Send: fake.send, Output: tempOutput(t)})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("started", zap.String("action", "start"))
	if len(fake.entries) != 1 {
		t.Fatalf("sent %d journal entries, want 1", len(fake.entries))
	}
	if got := fake.entries[0]; got.Message != "started action=start" || got.Vars["MPTCPD_ACTION"] != "start" || got.Vars["SYSLOG_IDENTIFIER"] != "mptcpd" {
		t.Errorf("journal entry %+v", got)
	}
}

// In the auto format, only a stderr that is the journal stream named by
// JOURNAL_STREAM switches to native journal entries.
func TestNewAuto(t *testing.T) {
	tests := []struct {
		name        string
		stream      func(t *testing.T, out *os.File) string
		wantJournal bool
	}{
		{name: "stderr is the journal stream", stream: streamID, wantJournal: true},
		{name: "no JOURNAL_STREAM", stream: func(*testing.T, *os.File) string { return "" }},
		{name: "inherited stream, stderr redirected", stream: func(t *testing.T, _ *os.File) string { return streamID(t, tempOutput(t)) }},
		{name: "malformed JOURNAL_STREAM", stream: func(*testing.T, *os.File) string { return "journal" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := tempOutput(t)
			t.Setenv("JOURNAL_STREAM", tt.stream(t, out))
			fake := &fakeJournal{}
			log, err := New(Options{Send: fake.send, Output: out})
			if err != nil {
				t.Fatal(err)
			}
			log.Info("hello")
			gotJournal := len(fake.entries) == 1
			if gotJournal != tt.wantJournal {
				t.Errorf("sent to journal: %v, want %v (stderr got %q)", gotJournal, tt.wantJournal, readLines(t, out))
			}
			// Not a terminal, so the fallback is JSON.
			if !tt.wantJournal && !json.Valid([]byte(readLines(t, out)[0])) {
				t.Errorf("auto format on a file wrote %q, want JSON", readLines(t, out))
			}
		})
	}
}

func TestChooseFormat(t *testing.T) {
	tests := []struct {
		journalStream, terminal bool
		want                    Format
	}{
		{true, false, FormatJournal},
		{true, true, FormatJournal},
		{false, true, FormatConsole},
		{false, false, FormatJSON},
	}
	for _, tt := range tests {
		if got := chooseFormat(tt.journalStream, tt.terminal); got != tt.want {
			t.Errorf("chooseFormat(journal stream %v, terminal %v) = %s, want %s", tt.journalStream, tt.terminal, got, tt.want)
		}
	}
}

func TestFormatFlag(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{in: "auto", want: FormatAuto},
		{in: "console", want: FormatConsole},
		{in: "json", want: FormatJSON},
		{in: "journal", want: FormatJournal},
		{in: "JSON", wantErr: true},
		{in: "", wantErr: true},
		{in: "logfmt", wantErr: true},
	}
	for _, tt := range tests {
		var f Format
		err := f.Set(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("Set(%q) error %v, want error: %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (f != tt.want || f.String() != tt.in) {
			t.Errorf("Set(%q) gave %q (String %q)", tt.in, f, f.String())
		}
	}
	var unset Format
	if unset.String() != "auto" {
		t.Errorf("default format shows as %q, want auto", unset.String())
	}
}

func TestNewUnknownFormat(t *testing.T) {
	if _, err := New(Options{Format: "xml", Output: tempOutput(t)}); err == nil {
		t.Error("New with format xml succeeded")
	}
}

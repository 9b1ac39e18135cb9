// Package logging builds mptcpd's zap logger: native journald entries with
// searchable fields when the daemon runs under systemd, and console or JSON
// lines on stderr anywhere else.
package logging

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"
)

// Format is how log entries are written; it is a flag.Value for --log-format.
type Format string

const (
	// FormatAuto picks journal when stderr is systemd's journal stream,
	// console on a terminal, and JSON otherwise (containers, pipes).
	FormatAuto    Format = "auto"
	FormatConsole Format = "console"
	FormatJSON    Format = "json"
	FormatJournal Format = "journal"
)

var formats = []Format{FormatAuto, FormatConsole, FormatJSON, FormatJournal}

// ParseFormat checks a --log-format value.
func ParseFormat(s string) (Format, error) {
	for _, f := range formats {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("unknown log format %q (want %s)", s, strings.Join(names, ", "))
}

// Set implements flag.Value.
func (f *Format) Set(s string) error {
	p, err := ParseFormat(s)
	if err != nil {
		return err
	}
	*f = p
	return nil
}

// String implements flag.Value.
func (f *Format) String() string {
	if f == nil || *f == "" {
		return string(FormatAuto)
	}
	return string(*f)
}

// Type names the value in pflag's help output.
func (f *Format) Type() string { return "format" }

// Options configure New. The zero value logs at info level in the auto
// format to stderr.
type Options struct {
	Format Format
	// Level is the least severe level written; zapcore.Level is itself a
	// flag.Value for --log-level.
	Level zapcore.Level
	// Output receives console and JSON lines, and is the file compared with
	// JOURNAL_STREAM in the auto format. Default os.Stderr.
	Output *os.File
	// Send delivers journal entries. Default journal.Send.
	Send SendFunc
	// Identifier is SYSLOG_IDENTIFIER in the journal. Default "mptcpd".
	Identifier string
}

// New builds the logger that Options describe.
func New(opts Options) (*zap.Logger, error) {
	out := opts.Output
	if out == nil {
		out = os.Stderr
	}
	send := opts.Send
	journalUp := func() bool { return true }
	if send == nil {
		send = journal.Send
		journalUp = journal.Enabled
	}
	if opts.Identifier == "" {
		opts.Identifier = "mptcpd"
	}
	format := opts.Format
	if format == "" || format == FormatAuto {
		format = chooseFormat(isJournalStream(out, os.Getenv("JOURNAL_STREAM")) && journalUp(), isTerminal(out))
	}

	switch format {
	case FormatJournal:
		if !journalUp() {
			return nil, errors.New("log format journal: journald's socket is not available")
		}
		return zap.New(NewJournalCore(send, opts.Identifier, opts.Level), zap.AddCaller()), nil
	case FormatConsole:
		enc := encoderConfig()
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(out), opts.Level)
		return zap.New(core), nil
	case FormatJSON:
		core := zapcore.NewCore(zapcore.NewJSONEncoder(encoderConfig()), zapcore.Lock(out), opts.Level)
		return zap.New(core, zap.AddCaller()), nil
	default:
		_, err := ParseFormat(string(format))
		return nil, err
	}
}

func encoderConfig() zapcore.EncoderConfig {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	return enc
}

// chooseFormat resolves FormatAuto.
func chooseFormat(journalStream, terminal bool) Format {
	switch {
	case journalStream:
		return FormatJournal
	case terminal:
		return FormatConsole
	default:
		return FormatJSON
	}
}

// isJournalStream reports whether f is the stream systemd connected to
// journald: JOURNAL_STREAM holds that stream's "device:inode", and the
// variable alone is not enough because children inherit it while their
// stderr may have been redirected elsewhere.
func isJournalStream(f *os.File, env string) bool {
	var dev, ino uint64
	if _, err := fmt.Sscanf(env, "%d:%d", &dev, &ino); err != nil {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return st.Dev == dev && st.Ino == ino
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

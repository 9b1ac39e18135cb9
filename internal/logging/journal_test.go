package logging

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// sent is one entry that reached the fake journal.
type sent struct {
	Message  string
	Priority journal.Priority
	Vars     map[string]string
}

// fakeJournal records what a journal core sends.
type fakeJournal struct {
	entries []sent
	err     error
}

func (f *fakeJournal) send(message string, priority journal.Priority, vars map[string]string) error {
	f.entries = append(f.entries, sent{message, priority, vars})
	return f.err
}

func TestFieldName(t *testing.T) {
	tests := []struct{ key, want string }{
		{"endpoint", "MPTCPD_ENDPOINT"},
		{"action", "MPTCPD_ACTION"},
		{"kernel_message", "MPTCPD_KERNEL_MESSAGE"},
		{"kernelMessage", "MPTCPD_KERNEL_MESSAGE"},
		{"kernel-message", "MPTCPD_KERNEL_MESSAGE"},
		{"endpoint.addr", "MPTCPD_ENDPOINT_ADDR"},
		{"ifIndex", "MPTCPD_IF_INDEX"},
		{"ipv6Addr", "MPTCPD_IPV6_ADDR"},
		{"ID", "MPTCPD_ID"},
		{"a  b", "MPTCPD_A_B"},
		{"_x_", "MPTCPD_X"},
		{"née", "MPTCPD_N_E"},
		{"", "MPTCPD_FIELD"},
		{"...", "MPTCPD_FIELD"},
	}
	for _, tt := range tests {
		if got := FieldName(tt.key); got != tt.want {
			t.Errorf("FieldName(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

type endpointObject struct {
	addr string
	id   uint8
}

func (e endpointObject) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("addr", e.addr)
	enc.AddUint8("id", e.id)
	return nil
}

func TestJournalCoreFields(t *testing.T) {
	tests := []struct {
		name     string
		log      func(*zap.Logger)
		wantMsg  string
		wantVars map[string]string
	}{
		{
			name: "one line per change",
			log: func(l *zap.Logger) {
				l.With(zap.String("config", "/etc/mptcpd.yaml")).Info("endpoint added",
					zap.String("action", "add"),
					zap.Stringer("endpoint", netip.MustParseAddr("192.0.2.10")),
					zap.Uint8("id", 3),
					zap.Strings("flags", []string{"subflow", "backup"}),
				)
			},
			wantMsg: `endpoint added config=/etc/mptcpd.yaml action=add endpoint=192.0.2.10 id=3 flags=subflow,backup`,
			wantVars: map[string]string{
				"MPTCPD_CONFIG":   "/etc/mptcpd.yaml",
				"MPTCPD_ACTION":   "add",
				"MPTCPD_ENDPOINT": "192.0.2.10",
				"MPTCPD_ID":       "3",
				"MPTCPD_FLAGS":    "subflow,backup",
			},
		},
		{
			name: "kernel answer with spaces is quoted in the message",
			log: func(l *zap.Logger) {
				l.Error("add endpoint failed",
					zap.Error(errors.New("file exists")),
					zap.String("kernel_message", ""),
					zap.Duration("took", 1500*time.Millisecond),
					zap.Bool("retry", true),
				)
			},
			wantMsg: `add endpoint failed error="file exists" kernel_message="" took=1.5s retry=true`,
			wantVars: map[string]string{
				"MPTCPD_ERROR":          "file exists",
				"MPTCPD_KERNEL_MESSAGE": "",
				"MPTCPD_TOOK":           "1.5s",
				"MPTCPD_RETRY":          "true",
			},
		},
		{
			name: "objects and namespaces flatten to dotted keys",
			log: func(l *zap.Logger) {
				l.Named("reconcile").Warn("fight",
					zap.Object("endpoint", endpointObject{"2001:db8::10", 7}),
					zap.Namespace("culprit"),
					zap.String("guess", "NetworkManager"),
				)
			},
			wantMsg: `fight endpoint.addr=2001:db8::10 endpoint.id=7 culprit.guess=NetworkManager`,
			wantVars: map[string]string{
				"MPTCPD_ENDPOINT_ADDR": "2001:db8::10",
				"MPTCPD_ENDPOINT_ID":   "7",
				"MPTCPD_CULPRIT_GUESS": "NetworkManager",
				"MPTCPD_LOGGER":        "reconcile",
			},
		},
		{
			name:     "time in RFC 3339",
			log:      func(l *zap.Logger) { l.Info("loaded", zap.Time("at", time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC))) },
			wantMsg:  `loaded at=2025-03-04T05:06:07.000000008Z`,
			wantVars: map[string]string{"MPTCPD_AT": "2025-03-04T05:06:07.000000008Z"},
		},
		{
			name: "lists of objects fall back to JSON, binary to base64",
			log: func(l *zap.Logger) {
				l.Info("dump",
					zap.Objects("endpoints", []endpointObject{{"192.0.2.1", 1}}),
					zap.Binary("raw", []byte{1, 2}),
				)
			},
			wantMsg: `dump endpoints="[{\"addr\":\"192.0.2.1\",\"id\":1}]" raw="AQI="`,
			wantVars: map[string]string{
				"MPTCPD_ENDPOINTS": `[{"addr":"192.0.2.1","id":1}]`,
				"MPTCPD_RAW":       "AQI=",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeJournal{}
			tt.log(zap.New(NewJournalCore(fake.send, "mptcpd", zapcore.DebugLevel), zap.AddCaller()))
			if len(fake.entries) != 1 {
				t.Fatalf("sent %d entries, want 1: %+v", len(fake.entries), fake.entries)
			}
			got := fake.entries[0]
			if got.Message != tt.wantMsg {
				t.Errorf("MESSAGE\n got %s\nwant %s", got.Message, tt.wantMsg)
			}
			// The caller fields carry line numbers of this file: check
			// them apart so that the table does not depend on them.
			if f := got.Vars["CODE_FILE"]; !strings.HasSuffix(f, "journal_test.go") {
				t.Errorf("CODE_FILE = %q, want this test file", f)
			}
			if got.Vars["CODE_LINE"] == "" || !strings.Contains(got.Vars["CODE_FUNC"], "TestJournalCoreFields") {
				t.Errorf("CODE_LINE = %q, CODE_FUNC = %q; want the logging call", got.Vars["CODE_LINE"], got.Vars["CODE_FUNC"])
			}
			delete(got.Vars, "CODE_FILE")
			delete(got.Vars, "CODE_LINE")
			delete(got.Vars, "CODE_FUNC")
			want := map[string]string{"SYSLOG_IDENTIFIER": "mptcpd"}
			for k, v := range tt.wantVars {
				want[k] = v
			}
			if diff := cmp.Diff(want, got.Vars); diff != "" {
				t.Errorf("journal fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJournalCoreLevels(t *testing.T) {
	fake := &fakeJournal{}
	l := zap.New(NewJournalCore(fake.send, "mptcpd", zapcore.InfoLevel))
	l.Debug("hidden")
	l.Info("i")
	l.Warn("w")
	l.Error("e")
	l.DPanic("d") // a no-op outside development loggers, but still logged
	want := []journal.Priority{journal.PriInfo, journal.PriWarning, journal.PriErr, journal.PriCrit}
	var got []journal.Priority
	for _, e := range fake.entries {
		got = append(got, e.Priority)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("priorities (-want +got):\n%s", diff)
	}
}

func TestPriority(t *testing.T) {
	tests := []struct {
		level zapcore.Level
		want  journal.Priority
	}{
		{zapcore.DebugLevel, journal.PriDebug},
		{zapcore.InfoLevel, journal.PriInfo},
		{zapcore.WarnLevel, journal.PriWarning},
		{zapcore.ErrorLevel, journal.PriErr},
		{zapcore.DPanicLevel, journal.PriCrit},
		{zapcore.PanicLevel, journal.PriCrit},
		{zapcore.FatalLevel, journal.PriCrit},
	}
	for _, tt := range tests {
		if got := Priority(tt.level); got != tt.want {
			t.Errorf("Priority(%v) = %v, want %v", tt.level, got, tt.want)
		}
	}
}

func TestJournalCoreSendError(t *testing.T) {
	fake := &fakeJournal{err: errors.New("no journald")}
	core := NewJournalCore(fake.send, "mptcpd", zapcore.InfoLevel)
	err := core.Write(zapcore.Entry{Level: zapcore.InfoLevel, Message: "m"}, nil)
	if err == nil || !strings.Contains(err.Error(), "no journald") {
		t.Errorf("Write with a failing journal = %v, want the send error", err)
	}
}

// With must not let two children built from one parent share field storage.
func TestJournalCoreWithIsolated(t *testing.T) {
	fake := &fakeJournal{}
	parent := zap.New(NewJournalCore(fake.send, "", zapcore.InfoLevel)).With(zap.String("a", "1"))
	left := parent.With(zap.String("b", "left"))
	right := parent.With(zap.String("b", "right"))
	left.Info("l")
	right.Info("r")
	parent.Info("p")
	var got []string
	for _, e := range fake.entries {
		got = append(got, e.Message)
	}
	want := []string{"l a=1 b=left", "r a=1 b=right", "p a=1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

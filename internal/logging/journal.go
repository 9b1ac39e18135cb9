package logging

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/coreos/go-systemd/v22/journal"
	"go.uber.org/zap/zapcore"
)

// SendFunc delivers one journal entry; journal.Send is the real one.
type SendFunc func(message string, priority journal.Priority, vars map[string]string) error

// FieldPrefix starts the journal field name of every zap field, so that
// `journalctl MPTCPD_ENDPOINT=192.0.2.10` finds mptcpd's own fields and they
// cannot collide with journald's.
const FieldPrefix = "MPTCPD_"

// journalCore is a zapcore.Core that sends each entry to journald as one
// native entry: the message, a priority, and one journal field per zap field.
type journalCore struct {
	zapcore.LevelEnabler
	send       SendFunc
	identifier string
	context    []pair // from With, in order
}

// pair is one zap field flattened to a dotted key and a text value.
type pair struct{ key, value string }

// NewJournalCore returns a core that sends entries at or above level to
// journald through send. Every zap field becomes a journal field named by
// FieldName; the fields are also appended to MESSAGE as key=value, because
// `journalctl` shows only the message unless asked for more.
func NewJournalCore(send SendFunc, identifier string, level zapcore.LevelEnabler) zapcore.Core {
	return &journalCore{LevelEnabler: level, send: send, identifier: identifier}
}

func (c *journalCore) With(fields []zapcore.Field) zapcore.Core {
	clone := *c
	clone.context = append(slices.Clip(c.context), flatten(fields)...)
	return &clone
}

func (c *journalCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c *journalCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	pairs := append(slices.Clip(c.context), flatten(fields)...)
	vars := make(map[string]string, len(pairs)+5)
	var msg strings.Builder
	msg.WriteString(ent.Message)
	for _, p := range pairs {
		vars[FieldName(p.key)] = p.value
		fmt.Fprintf(&msg, " %s=%s", p.key, quoteIfNeeded(p.value))
	}
	if c.identifier != "" {
		vars["SYSLOG_IDENTIFIER"] = c.identifier
	}
	if ent.LoggerName != "" {
		vars[FieldPrefix+"LOGGER"] = ent.LoggerName
	}
	if ent.Caller.Defined {
		vars["CODE_FILE"] = ent.Caller.File
		vars["CODE_LINE"] = strconv.Itoa(ent.Caller.Line)
		if ent.Caller.Function != "" {
			vars["CODE_FUNC"] = ent.Caller.Function
		}
	}
	if ent.Stack != "" {
		vars[FieldPrefix+"STACK"] = ent.Stack
	}
	if err := c.send(msg.String(), Priority(ent.Level), vars); err != nil {
		return fmt.Errorf("write to journald: %w", err)
	}
	return nil
}

// Sync has nothing to flush: every entry is sent as it is written.
func (c *journalCore) Sync() error { return nil }

// Priority maps a zap level to a syslog priority. Nothing maps to emerg or
// alert: journald broadcasts those to every terminal, which no failure of a
// path-manager daemon warrants.
func Priority(l zapcore.Level) journal.Priority {
	switch {
	case l <= zapcore.DebugLevel:
		return journal.PriDebug
	case l == zapcore.InfoLevel:
		return journal.PriInfo
	case l == zapcore.WarnLevel:
		return journal.PriWarning
	case l == zapcore.ErrorLevel:
		return journal.PriErr
	default:
		return journal.PriCrit
	}
}

// FieldName turns a zap field key into a journal field name: FieldPrefix,
// then the key in upper case with camelCase split and anything but letters
// and digits turned into single underscores ("kernelMessage" and
// "kernel-message" both become MPTCPD_KERNEL_MESSAGE).
func FieldName(key string) string {
	var b strings.Builder
	b.WriteString(FieldPrefix)
	underscore := true // the prefix ends in one
	var prev rune
	for _, r := range key {
		switch {
		case r <= unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if unicode.IsUpper(r) && (unicode.IsLower(prev) || unicode.IsDigit(prev)) && !underscore {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToUpper(r))
			underscore = false
		case !underscore:
			b.WriteByte('_')
			underscore = true
		}
		prev = r
	}
	name := strings.TrimRight(b.String(), "_")
	if name+"_" == FieldPrefix {
		return FieldPrefix + "FIELD"
	}
	return name
}

// flatten encodes fields into dotted keys and text values, in field order.
// Nested objects become one pair per leaf ("endpoint.addr"); a Namespace
// field prefixes the fields after it, as it does in zap's encoders.
func flatten(fields []zapcore.Field) []pair {
	var pairs []pair
	prefix := ""
	for _, f := range fields {
		if f.Type == zapcore.NamespaceType {
			prefix += f.Key + "."
			continue
		}
		enc := zapcore.NewMapObjectEncoder()
		f.AddTo(enc)
		for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
			pairs = appendValue(pairs, prefix+k, enc.Fields[k])
		}
	}
	return pairs
}

func appendValue(pairs []pair, key string, v any) []pair {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			pairs = appendValue(pairs, key+"."+k, v[k])
		}
		return pairs
	case []any:
		// A list of plain values (flags, addresses) reads best, and is
		// easiest to match with journalctl, as "subflow,backup".
		elems := make([]string, len(v))
		for i, e := range v {
			s, ok := scalar(e)
			if !ok {
				return append(pairs, pair{key, jsonText(v)})
			}
			elems[i] = s
		}
		return append(pairs, pair{key, strings.Join(elems, ",")})
	}
	if s, ok := scalar(v); ok {
		return append(pairs, pair{key, s})
	}
	return append(pairs, pair{key, jsonText(v)})
}

// scalar formats a single value; ok is false for lists, objects and
// anything else that has no obvious one-word form.
func scalar(v any) (s string, ok bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case time.Time:
		return v.Format(time.RFC3339Nano), true
	case time.Duration:
		return v.String(), true
	case []byte: // zap.Binary, base64 as zap's JSON encoder writes it
		return base64.StdEncoding.EncodeToString(v), true
	case fmt.Stringer:
		return v.String(), true
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, uintptr, float32, float64, complex64, complex128:
		return fmt.Sprint(v), true
	}
	return "", false
}

// jsonText is the fallback for nested lists and reflected values:
// JSON is readable and unambiguous.
func jsonText(v any) string {
	if b, err := json.Marshal(v); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

// quoteIfNeeded keeps key=value pairs in MESSAGE parseable when a value is
// empty or holds spaces, quotes or control characters.
func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '"' || r == '=' || r == 0x7f }) {
		return strconv.Quote(s)
	}
	return s
}

package ipcmd

import (
	"strconv"
	"strings"
)

// jsonWriter writes JSON exactly as iproute2's json_writer does, pretty
// form included (four-space indent, "[ {" and "} ]" around arrays, "},{"
// between their objects), so that `-j` and `-j -p` output matches `ip -j`
// byte for byte. Its state machine is iproute2's: sep is the byte owed
// before the next value (0 or ','), depth the nesting.
type jsonWriter struct {
	b      *strings.Builder
	depth  int
	pretty bool
	sep    byte
}

func newJSONWriter(b *strings.Builder, pretty bool) *jsonWriter {
	return &jsonWriter{b: b, pretty: pretty}
}

func (w *jsonWriter) eol() {
	if !w.pretty {
		return
	}
	w.b.WriteByte('\n')
	for i := 0; i < w.depth; i++ {
		w.b.WriteString("    ")
	}
}

// eor writes the separator owed by the previous value.
func (w *jsonWriter) eor() {
	if w.sep != 0 {
		w.b.WriteByte(w.sep)
	}
	w.sep = ','
}

func (w *jsonWriter) begin(c byte) {
	w.eor()
	w.b.WriteByte(c)
	w.depth++
	w.sep = 0
}

func (w *jsonWriter) end(c byte) {
	w.depth--
	if w.sep != 0 {
		w.eol()
	}
	w.b.WriteByte(c)
	w.sep = ','
}

func (w *jsonWriter) startArray() {
	w.begin('[')
	if w.pretty {
		w.b.WriteByte(' ')
	}
}

func (w *jsonWriter) endArray() {
	if w.pretty && w.sep != 0 {
		w.b.WriteByte(' ')
	}
	w.sep = 0
	w.end(']')
}

func (w *jsonWriter) startObject() { w.begin('{') }
func (w *jsonWriter) endObject()   { w.end('}') }

func (w *jsonWriter) name(key string) {
	w.eor()
	w.eol()
	w.sep = 0
	w.quote(key)
	w.b.WriteByte(':')
	if w.pretty {
		w.b.WriteByte(' ')
	}
}

func (w *jsonWriter) stringField(key, v string) {
	w.name(key)
	w.eor()
	w.quote(v)
}

func (w *jsonWriter) uintField(key string, v uint64) {
	w.name(key)
	w.eor()
	w.b.WriteString(strconv.FormatUint(v, 10))
}

func (w *jsonWriter) intField(key string, v int64) {
	w.name(key)
	w.eor()
	w.b.WriteString(strconv.FormatInt(v, 10))
}

func (w *jsonWriter) boolField(key string, v bool) {
	w.name(key)
	w.eor()
	w.b.WriteString(strconv.FormatBool(v))
}

// finish ends the document with the newline iproute2's jsonw_destroy
// writes.
func (w *jsonWriter) finish() { w.b.WriteByte('\n') }

// quote escapes like iproute2's jsonw_puts: only the C escapes, quote and
// backslash; every other byte is written as it is.
func (w *jsonWriter) quote(s string) {
	w.b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\t':
			w.b.WriteString(`\t`)
		case '\n':
			w.b.WriteString(`\n`)
		case '\r':
			w.b.WriteString(`\r`)
		case '\f':
			w.b.WriteString(`\f`)
		case '\b':
			w.b.WriteString(`\b`)
		case '\\':
			w.b.WriteString(`\\`)
		case '"':
			w.b.WriteString(`\"`)
		default:
			w.b.WriteByte(c)
		}
	}
	w.b.WriteByte('"')
}

package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// topKeys are the keys of the file's top level, in the order Format writes
// them.
var topKeys = []string{"version", "limits", "endpoints", "sysctl", "ownership"}

// Version is the only format version this package reads.
const Version = 1

// Parse reads a configuration file's contents. name is used in messages
// (normally the path). On failure the error is an Errors listing every
// problem of the file in line order; no partial Config is returned.
//
// An empty file, or one of only comments, is valid and manages nothing.
func Parse(name string, data []byte) (*Config, error) {
	p := &parser{file: name}
	cfg := p.parse(data)
	if len(p.errs) > 0 {
		return nil, sortErrors(p.errs)
	}
	return cfg, nil
}

func (p *parser) parse(data []byte) *Config {
	cfg := &Config{Path: p.file, Version: Version, Ownership: Exclusive}
	root, ok := p.document(data)
	if !ok || root == nil || isNull(root) {
		return cfg
	}
	p.refuseUnusedYAML(root)
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "the file must be a mapping of settings (%s), got %s", strings.Join(topKeys, ", "), describe(root))
		return cfg
	}
	for _, f := range p.pairs(root, "at the top level", nil) {
		switch f.name {
		case "version":
			p.version(f.value)
		case "limits":
			cfg.Limits = p.limits(f)
		case "endpoints":
			cfg.ManageEndpoints = true
			cfg.Endpoints = p.endpoints(f)
		case "sysctl":
			cfg.Sysctls = p.sysctls(f)
		case "ownership":
			if o, ok := p.choice(f.value, "ownership", []string{string(Exclusive), string(Shared)}); ok {
				cfg.Ownership = Ownership(o)
			}
		default:
			p.unknownTopKey(f.key)
		}
	}
	return cfg
}

// unknownTopKey reports an unknown top-level key, and says where it belongs
// when it is a key of a section written without its section.
func (p *parser) unknownTopKey(k *yaml.Node) {
	name := k.Value
	var home string
	switch {
	case slices.Contains(limitKeys, name):
		home = "under limits"
	case slices.Contains(entryKeys, name):
		home = "in an entry of the endpoints list"
	case sysctlRuleFor(strings.TrimPrefix(name, sysctlPrefix)) != nil:
		home = "under sysctl"
	}
	if home != "" {
		p.errorf(k, "unknown key %q at the top level: it belongs %s (known: %s)", name, home, strings.Join(topKeys, ", "))
		return
	}
	p.unknownKey(k, "at the top level", topKeys, nil)
}

func (p *parser) version(n *yaml.Node) {
	v, ok := p.integer(n, "version", intRule{lo: -1 << 62, hi: 1 << 62, expect: "the integer 1"})
	if ok && v != Version {
		p.errorf(n, "version %d is not supported; this mptcpd reads version %d", v, Version)
	}
}

// document decodes the single YAML document of the file and returns its
// root node, or nil for a file without content. Syntax errors are recorded
// with the position where the parser gave up.
func (p *parser) document(data []byte) (root *yaml.Node, ok bool) {
	doc, extra, err := decodeDocuments(data)
	if err != nil {
		p.syntaxError(data, err)
		return nil, false
	}
	if extra != nil {
		p.errorf(extra, "a second YAML document starts here; an mptcpd file is one document: remove this \"---\" line and merge what follows into the first document")
	}
	if doc == nil || len(doc.Content) == 0 {
		return nil, true
	}
	return doc.Content[0], true
}

// decodeDocuments decodes the first document and looks for a second one
// (which is an error, and whose syntax errors count like the first's). It
// returns nil nodes for absent documents.
func decodeDocuments(data []byte) (doc, extra *yaml.Node, err error) {
	defer func() {
		// The YAML library turns its own failures into errors; anything
		// else it panics with must still not bring down a daemon that is
		// reloading its file.
		if r := recover(); r != nil {
			doc, extra, err = nil, nil, fmt.Errorf("yaml: the YAML parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first yaml.Node
	if err := dec.Decode(&first); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case errors.Is(err, io.EOF):
		return &first, nil, nil
	case err != nil:
		return nil, nil, err
	}
	return &first, &second, nil
}

// syntaxProblem returns the YAML library's description of why data does
// not parse, without its "yaml: line N:" prefix, or "" when it parses.
func syntaxProblem(data []byte) string {
	_, _, err := decodeDocuments(data)
	if err == nil {
		return ""
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.HasPrefix(msg, "line ") {
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
	}
	return msg
}

// Bounds on the work of locating a syntax error, which parses the file
// once per line and once per character of the line found; past them the
// library's own line is used. Real files are far below them.
const (
	maxLocateLines   = 2000
	maxLocateBytes   = 64 << 10
	maxLocateColumns = 1000
)

// syntaxError records a YAML syntax error. The library reports the line of
// the construct it was parsing rather than of the problem (and often one
// less), and no column, so the position is found again: the problem is just
// past the longest prefix of the file that does not yet fail in the same
// way.
func (p *parser) syntaxError(data []byte, err error) {
	msg := syntaxProblem(data)
	if msg == "" {
		msg = strings.TrimPrefix(err.Error(), "yaml: ")
	}
	line, col := locateSyntaxError(data, msg, err.Error())
	p.errs = append(p.errs, &Error{
		File:   p.file,
		Line:   line,
		Column: col,
		Msg:    "YAML syntax error: " + msg + syntaxHint(msg),
	})
}

// locateSyntaxError returns the 1-based line and column where the parser
// gives up with msg. A file too large to search in reasonable time gets the
// library's line and column 1.
func locateSyntaxError(data []byte, msg, libraryMsg string) (line, col int) {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' && i+1 < len(data) {
			starts = append(starts, i+1)
		}
	}
	if len(starts) > maxLocateLines || len(data) > maxLocateBytes {
		return libraryLine(libraryMsg), 1
	}
	failsSame := func(end int) bool { return syntaxProblem(data[:end]) == msg }
	// Find the last line whose start still parses (or fails differently).
	k := len(starts) - 1
	for k > 0 && failsSame(starts[k]) {
		k--
	}
	start := starts[k]
	end := len(data)
	if k+1 < len(starts) {
		end = starts[k+1]
	}
	c := 0
	if end-start <= maxLocateColumns {
		// Same search within the line, one character at a time.
		for c = end - start; c > 0 && failsSame(start+c); {
			_, size := utf8.DecodeLastRune(data[start : start+c])
			c -= size
		}
	}
	return k + 1, utf8.RuneCount(data[start:start+c]) + 1
}

// libraryLine extracts N from the library's "yaml: line N: ..." (at least 1).
func libraryLine(msg string) int {
	rest, ok := strings.CutPrefix(msg, "yaml: line ")
	if !ok {
		return 1
	}
	digits, _, _ := strings.Cut(rest, ":")
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// syntaxHint adds what usually causes the library's terser messages.
func syntaxHint(msg string) string {
	switch {
	case strings.Contains(msg, "tab character"), strings.Contains(msg, "found character that cannot start any token"):
		return " (indent with spaces: YAML does not allow tabs there)"
	case msg == "did not find expected key":
		return " (check the indentation: the keys of one mapping must line up)"
	case msg == "mapping values are not allowed in this context":
		return " (check the indentation, or quote a value that contains \": \")"
	case strings.HasPrefix(msg, "did not find expected ',' or"):
		return " (a [list] or {mapping} is not closed)"
	case msg == "did not find expected '-' indicator":
		return " (a list item must start with \"- \" at the same indentation as the others)"
	case msg == "found unexpected end of stream":
		return " (a quoted string is not closed)"
	case strings.Contains(msg, "UTF-8"), strings.Contains(msg, "control characters"):
		return " (the file must be UTF-8 text)"
	}
	return ""
}

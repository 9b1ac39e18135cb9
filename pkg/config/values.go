package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// parser collects every problem of one file while the node tree is walked.
type parser struct {
	file string
	errs Errors
}

// errorf records a problem at node n.
func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &Error{
		File:   p.file,
		Line:   max(n.Line, 1),
		Column: max(n.Column, 1),
		Msg:    fmt.Sprintf(format, args...),
	})
}

func pos(n *yaml.Node) Position { return Position{Line: n.Line, Column: n.Column} }

// describe names what a node holds, for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.ShortTag() {
	case "!!str":
		return fmt.Sprintf("string %q", clip(n.Value))
	case "!!int":
		return "integer " + clip(n.Value)
	case "!!float":
		return "number " + clip(n.Value)
	case "!!bool":
		return "boolean " + clip(n.Value)
	case "!!null":
		return "no value"
	case "!!timestamp":
		return "date " + clip(n.Value)
	case "!!binary":
		return "binary data"
	}
	return fmt.Sprintf("a value tagged %s", clip(n.Tag))
}

// isNull reports whether a node is empty (`key:`, `~` or `null`).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// decimal matches the only integer spelling accepted. YAML also reads
// 0x10, 0o17 and 1_000, and a YAML 1.1 reader takes 010 as octal; an id or
// port that means different things to different readers is refused.
var decimal = regexp.MustCompile(`^[-+]?[0-9]+$`)

// intRule describes an integer setting for its messages.
type intRule struct {
	lo, hi int64
	// expect completes "WHAT must be ...", e.g. "an integer 0..8".
	expect string
}

// integer reads an integer node within [r.lo, r.hi].
func (p *parser) integer(n *yaml.Node, what string, r intRule) (int64, bool) {
	if n.Kind == yaml.AliasNode {
		return 0, false // reported once, where aliases are refused
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.errorf(n, "%s must be %s, got %s%s", what, r.expect, describe(n), quotedNumberHint(n))
		return 0, false
	}
	if !decimal.MatchString(n.Value) {
		p.errorf(n, "%s must be written in decimal, got %s", what, clip(n.Value))
		return 0, false
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil || v < r.lo || v > r.hi {
		p.errorf(n, "%s must be %s, got %s", what, r.expect, clip(n.Value))
		return 0, false
	}
	return v, true
}

// quotedNumberHint explains why "2" is not a number: YAML reads quotes as a
// string.
func quotedNumberHint(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && decimal.MatchString(n.Value) {
		return " (remove the quotes)"
	}
	return ""
}

// str reads a string node; expect completes "WHAT must be ...".
func (p *parser) str(n *yaml.Node, what, expect string) (string, bool) {
	if n.Kind == yaml.AliasNode {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.errorf(n, "%s must be %s, got %s", what, expect, describe(n))
		return "", false
	}
	return n.Value, true
}

// boolean reads true or false.
func (p *parser) boolean(n *yaml.Node, what string) (bool, bool) {
	if n.Kind == yaml.AliasNode {
		return false, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.errorf(n, "%s must be true or false, got %s", what, describe(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		p.errorf(n, "%s must be true or false, got %s", what, describe(n))
		return false, false
	}
	return b, true
}

// choice reads a string that must be one of a fixed set of words.
func (p *parser) choice(n *yaml.Node, what string, words []string) (string, bool) {
	expect := orList(words)
	if n.Kind == yaml.AliasNode {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.errorf(n, "%s must be %s, got %s", what, expect, describe(n))
		return "", false
	}
	for _, w := range words {
		if n.Value == w {
			return w, true
		}
	}
	p.errorf(n, "%s must be %s, got %q%s", what, expect, clip(n.Value), didYouMean(n.Value, words))
	return "", false
}

// field is one key/value pair of a mapping; name is the key's canonical
// spelling.
type field struct {
	name       string
	key, value *yaml.Node
}

// pairs returns the pairs of mapping n in file order. It reports keys that
// are not plain names and keys given twice (canon maps several spellings of
// one key to one name; nil means the spelling is the name); only the first
// of a repeated key is returned. where completes "... twice WHERE".
func (p *parser) pairs(n *yaml.Node, where string, canon func(string) string) []field {
	var fields []field
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			if k.Kind != yaml.AliasNode {
				p.errorf(k, "a key must be a plain name, got %s", describe(k))
			}
			continue
		}
		name := k.Value
		if canon != nil {
			name = canon(name)
		}
		if prev, ok := first[name]; ok {
			if prev.Value == k.Value {
				p.errorf(k, "key %q appears twice %s (first at line %d); keep only one", clip(k.Value), where, prev.Line)
			} else {
				p.errorf(k, "key %q is another spelling of %q (line %d) %s; keep only one", clip(k.Value), clip(prev.Value), prev.Line, where)
			}
			continue
		}
		first[name] = k
		fields = append(fields, field{name: name, key: k, value: v})
	}
	return fields
}

// unknownKey reports a key that the section does not have, with the
// nearest known key (or the one an alias in aliases stands for) and the
// list of known ones. It returns the key it suggested, or "".
func (p *parser) unknownKey(k *yaml.Node, where string, known []string, aliases map[string]string) string {
	suggest := aliases[strings.ToLower(k.Value)]
	if suggest == "" {
		suggest = nearest(k.Value, known)
	}
	hint := ""
	if suggest != "" {
		hint = fmt.Sprintf("; did you mean %q?", suggest)
	}
	p.errorf(k, "unknown key %q %s%s (known: %s)", clip(k.Value), where, hint, strings.Join(known, ", "))
	return suggest
}

// refuseUnusedYAML reports, anywhere in the tree, the YAML features an
// mptcpd file has no use for. Aliases would let one node stand in several
// places (and errors point at one of them only); local tags such as !foo
// mean nothing here and would otherwise be silently ignored.
func (p *parser) refuseUnusedYAML(n *yaml.Node) {
	if n.Kind == yaml.AliasNode {
		p.errorf(n, "YAML aliases (*%s) are not supported; write the value out in full", clip(n.Value))
		return
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		p.errorf(n, "YAML tag %s means nothing in an mptcpd file; remove it", clip(n.Tag))
	}
	for _, c := range n.Content {
		p.refuseUnusedYAML(c)
	}
}

// clip shortens a value quoted in a message, so that a runaway value does
// not bury the message.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

package config

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
	yaml "go.yaml.in/yaml/v3"
)

// requestableFlags are the flags a file may ask for.
const requestableFlags = mptcp.KnownFlags &^ mptcp.FlagImplicit

// Format writes cfg as a file in canonical form: every section that cfg
// manages, keys in a fixed order, defaults left out of entries, flags as a
// flow list. Parse reads the result back to a Config equal to cfg (see
// Config.Equal), which Format checks before returning; a Config that no
// file could express (an implicit flag, a limit above 8) is an error.
//
// Zero values stand for defaults, so a Config built from the kernel's
// state need not fill them in: Version 0 is written as 1, Ownership "" as
// exclusive, an interface entry's Family "" as any; IPv4-mapped addresses
// are written in their IPv4 form.
func Format(cfg *Config) ([]byte, error) {
	if cfg == nil {
		return nil, errors.New("format config: no config")
	}
	c := canonical(cfg)
	if !c.ManageEndpoints && len(c.Endpoints) > 0 {
		return nil, fmt.Errorf("format config: %d endpoints given, but ManageEndpoints is false", len(c.Endpoints))
	}
	for i, e := range c.Endpoints {
		if bad := e.Flags &^ requestableFlags; bad != 0 {
			return nil, fmt.Errorf("format config: endpoint %d asks for flags a file cannot request (%s)", i+1, bad)
		}
		if mixed := mixedFields(e); mixed != "" {
			return nil, fmt.Errorf("format config: endpoint %d is an interface entry (%s) and also sets %s", i+1, e.Interface, mixed)
		}
	}

	root := &yaml.Node{Kind: yaml.MappingNode}
	put(root, "version", intNode(int64(c.Version)))
	if c.Limits != nil {
		m := &yaml.Node{Kind: yaml.MappingNode}
		if c.Limits.Subflows != nil {
			put(m, "subflows", intNode(int64(*c.Limits.Subflows)))
		}
		if c.Limits.AddAddrAccepted != nil {
			put(m, "add_addr_accepted", intNode(int64(*c.Limits.AddAddrAccepted)))
		}
		if len(m.Content) == 0 {
			m.Style = yaml.FlowStyle
		}
		put(root, "limits", m)
	}
	if c.ManageEndpoints {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, e := range c.Endpoints {
			seq.Content = append(seq.Content, entryNode(e))
		}
		if len(seq.Content) == 0 {
			seq.Style = yaml.FlowStyle
		}
		put(root, "endpoints", seq)
	}
	if len(c.Sysctls) > 0 {
		m := &yaml.Node{Kind: yaml.MappingNode}
		for _, s := range c.Sysctls {
			v := strNode(s.Value)
			if r := sysctlRuleFor(s.Name); r != nil && r.numeric {
				v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: s.Value}
			}
			put(m, s.Name, v)
		}
		put(root, "sysctl", m)
	}
	put(root, "ownership", strNode(string(c.Ownership)))

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("format config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("format config: %w", err)
	}
	out := buf.Bytes()

	back, err := Parse("formatted config", out)
	if err != nil {
		return nil, fmt.Errorf("format config: the config is not valid:\n%w", err)
	}
	if !back.Equal(c) {
		return nil, errors.New("format config: the formatted file reads back differently")
	}
	return out, nil
}

// mixedFields names the fixed-entry field an interface entry sets, or "".
// (A fixed entry's interface-only fields are dropped by canonical.)
func mixedFields(e Entry) string {
	if !e.IsInterface() {
		return ""
	}
	switch {
	case e.Address.IsValid():
		return "Address"
	case e.Dev != "":
		return "Dev"
	case e.ID != 0:
		return "ID"
	case e.Port != 0:
		return "Port"
	}
	return ""
}

// canonical returns a copy of cfg with zero values replaced by the
// defaults Parse fills in.
func canonical(cfg *Config) *Config {
	c := *cfg
	if c.Version == 0 {
		c.Version = Version
	}
	if c.Ownership == "" {
		c.Ownership = Exclusive
	}
	c.Endpoints = make([]Entry, len(cfg.Endpoints))
	for i, e := range cfg.Endpoints {
		e.Address = e.Address.Unmap()
		if e.IsInterface() && e.Family == "" {
			e.Family = FamilyAny
		}
		if !e.IsInterface() {
			// Meaningless for a fixed entry, and Parse leaves them zero.
			e.Family, e.IncludeLinkLocal, e.IncludeULA, e.IncludeTemporary = "", false, false, false
		}
		c.Endpoints[i] = e
	}
	return &c
}

func entryNode(e Entry) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	if e.IsInterface() {
		put(m, "interface", strNode(e.Interface))
		if e.Family != FamilyAny {
			put(m, "family", strNode(string(e.Family)))
		}
		for _, opt := range []struct {
			key string
			on  bool
		}{{"link_local", e.IncludeLinkLocal}, {"ula", e.IncludeULA}, {"temporary", e.IncludeTemporary}} {
			if opt.on {
				put(m, opt.key, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
			}
		}
	} else {
		put(m, "address", strNode(e.Address.String()))
		if e.Dev != "" {
			put(m, "dev", strNode(e.Dev))
		}
		if e.ID != 0 {
			put(m, "id", intNode(int64(e.ID)))
		}
		if e.Port != 0 {
			put(m, "port", intNode(int64(e.Port)))
		}
	}
	flags := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, name := range e.Flags.Names() {
		flags.Content = append(flags.Content, strNode(name))
	}
	put(m, "flags", flags)
	return m
}

func put(m *yaml.Node, key string, value *yaml.Node) {
	m.Content = append(m.Content, strNode(key), value)
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func intNode(v int64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v, 10)}
}

package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
	yaml "go.yaml.in/yaml/v3"
)

// entryKeys are the keys of an endpoints entry, in the order Format writes
// them: a fixed entry's first, then an interface entry's, then flags.
var entryKeys = []string{"address", "dev", "id", "port", "interface", "family", "link_local", "ula", "temporary", "flags"}

// entryKeyAliases are keys people write for ours.
var entryKeyAliases = map[string]string{
	"ip": "address", "ipaddr": "address", "ip_address": "address", "addr": "address",
	"iface": "interface", "ifname": "interface", "link": "interface", "nic": "interface",
	"device": "dev", "flag": "flags",
}

// families are the values of an interface entry's family key.
var families = []string{string(FamilyIPv4), string(FamilyIPv6), string(FamilyAny)}

// FlagNames returns the endpoint flags a file may ask for, in iproute2's
// order. implicit is not among them: only the kernel sets it.
func FlagNames() []string {
	return slices.DeleteFunc(mptcp.FlagNames(), func(name string) bool { return name == "implicit" })
}

var (
	idRule   = intRule{lo: 1, hi: 255, expect: "an integer 1..255 (leave it out to let the kernel choose)"}
	portRule = intRule{lo: 1, hi: 65535, expect: "a port number 1..65535"}
)

// parsedEntry is an entry with the nodes the checks across entries point
// at (nil when the key is absent or its value invalid).
type parsedEntry struct {
	Entry
	addrNode, idNode *yaml.Node
}

// endpoints reads the endpoints list and checks what involves several
// entries: duplicate addresses and ids, and the kernel's 8 slots.
func (p *parser) endpoints(f field) []Entry {
	n := f.value
	if isNull(n) {
		p.errorf(f.key, "endpoints has no value; write endpoints: [] to have no endpoints at all, or remove the key to leave the kernel's endpoints alone")
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		if n.Kind != yaml.AliasNode {
			p.errorf(n, "endpoints must be a list of entries, each starting with \"- address:\" or \"- interface:\", got %s", describe(n))
		}
		return nil
	}
	entries := make([]Entry, 0, len(n.Content))
	var parsed []parsedEntry
	for _, item := range n.Content {
		if pe, ok := p.entry(item); ok {
			parsed = append(parsed, pe)
			entries = append(entries, pe.Entry)
		}
	}
	p.slots(n.Content)
	p.duplicates(parsed)
	return entries
}

// slots reports the fixed entry that no longer fits in the kernel's table.
// Interface entries are not counted: how many addresses they stand for is
// only known at run time, where the file order decides who gets a slot.
func (p *parser) slots(items []*yaml.Node) {
	total := 0
	for _, item := range items {
		if hasKey(item, "address") {
			total++
		}
	}
	if total <= mptcp.MaxEndpoints {
		return
	}
	fixed := 0
	for _, item := range items {
		if !hasKey(item, "address") {
			continue
		}
		if fixed++; fixed > mptcp.MaxEndpoints {
			p.errorf(item, "the file has %d fixed entries and this is number %d; the kernel holds at most %d endpoints per namespace (a 9th ADD fails with ERANGE): remove %d fixed entries",
				total, fixed, mptcp.MaxEndpoints, total-mptcp.MaxEndpoints)
			return
		}
	}
}

// hasKey reports whether mapping n has key name.
func hasKey(n *yaml.Node, name string) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return true
		}
	}
	return false
}

// duplicates reports a fixed address (with the same port) or an id given
// twice. The kernel keeps one endpoint per address and port: IPv4-mapped
// IPv6 is the same address as its IPv4 form, a second ADD fails with
// EEXIST, while the same address with another port is a separate
// endpoint. A second endpoint with an id in use fails with EBUSY.
func (p *parser) duplicates(entries []parsedEntry) {
	type addrPort struct {
		addr netip.Addr
		port uint16
	}
	addrs := map[addrPort]*yaml.Node{}
	ids := map[uint8]*yaml.Node{}
	for _, e := range entries {
		if e.addrNode != nil {
			key := addrPort{e.Address, e.Port}
			if prev, ok := addrs[key]; ok {
				port := "without a port"
				if e.Port != 0 {
					port = fmt.Sprintf("with port %d", e.Port)
				}
				mapped := ""
				if e.addrNode.Value != e.Address.String() && prev.Value != e.addrNode.Value {
					mapped = fmt.Sprintf(" (%s is %s)", e.addrNode.Value, e.Address)
				}
				p.errorf(e.addrNode, "address %s %s is already the endpoint at line %d%s; the kernel keeps one endpoint per address and port and refuses a second (EEXIST): merge the two entries",
					e.Address, port, prev.Line, mapped)
			} else {
				addrs[key] = e.addrNode
			}
		}
		if e.idNode != nil {
			if prev, ok := ids[e.ID]; ok {
				p.errorf(e.idNode, "id %d is already used by the entry at line %d; ids must be unique (the kernel refuses a second with EBUSY)", e.ID, prev.Line)
			} else {
				ids[e.ID] = e.idNode
			}
		}
	}
}

// entry reads one item of the endpoints list. It returns false only when
// the item is not a mapping at all.
func (p *parser) entry(n *yaml.Node) (parsedEntry, bool) {
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.AliasNode {
			return parsedEntry{}, false
		}
		hint := ""
		if n.Kind == yaml.ScalarNode {
			if _, err := netip.ParseAddr(n.Value); err == nil {
				hint = fmt.Sprintf(" (write - address: %s)", n.Value)
			} else if checkIfName(n.Value) == "" && !isNull(n) {
				hint = fmt.Sprintf(" (write - interface: %s)", n.Value)
			}
		}
		p.errorf(n, "each endpoints entry must be a mapping with an address or an interface key, got %s%s", describe(n), hint)
		return parsedEntry{}, false
	}
	const where = "in this endpoints entry"
	fields := p.pairs(n, where, nil)
	known := fields[:0:0]
	byName := map[string]field{}
	suggestedKind := false
	for _, f := range fields {
		if !slices.Contains(entryKeys, f.name) {
			switch p.unknownKey(f.key, "in an endpoints entry", entryKeys, entryKeyAliases) {
			case "address", "interface":
				suggestedKind = true
			}
			continue
		}
		known = append(known, f)
		byName[f.name] = f
	}
	addrF, hasAddr := byName["address"]
	ifF, hasIf := byName["interface"]
	switch {
	case hasAddr && hasIf:
		later := ifF.key
		if ifF.key.Line < addrF.key.Line || (ifF.key.Line == addrF.key.Line && ifF.key.Column < addrF.key.Column) {
			later = addrF.key
		}
		p.errorf(later, "an entry has either address (one fixed endpoint) or interface (every usable address of a device), not both: split it into two entries")
	case !hasAddr && !hasIf && !suggestedKind:
		p.errorf(n, "this endpoints entry has neither address nor interface: give address (one fixed endpoint) or interface (every usable address of a device)")
	}
	isInterface := hasIf && !hasAddr

	pe := parsedEntry{Entry: Entry{Pos: pos(n)}}
	if isInterface {
		pe.Family = FamilyAny
	}
	var portNode *yaml.Node
	var flagNodes map[mptcp.Flags]*yaml.Node
	for _, f := range known {
		v := f.value
		switch f.name {
		case "address":
			if a, ok := p.address(v); ok {
				pe.Address, pe.addrNode = a, v
			}
		case "interface":
			if name, ok := p.ifName(v, "interface"); ok && !hasAddr {
				pe.Interface = name
			}
		case "dev":
			if isInterface {
				p.errorf(f.key, "dev applies only to fixed entries; the endpoints of an interface entry are always bound to its interface")
			} else if name, ok := p.ifName(v, "dev"); ok {
				pe.Dev = name
			}
		case "id":
			if isInterface {
				p.errorf(f.key, "id cannot be set on an interface entry: ids and ports belong to one address, and an interface entry stands for all of its usable addresses; list the address as a fixed entry (address, dev, id) to give it a stable id")
			} else if id, ok := p.integer(v, "id", idRule); ok {
				pe.ID, pe.idNode = uint8(id), v
			}
		case "port":
			if isInterface {
				p.errorf(f.key, "port cannot be set on an interface entry: ids and ports belong to one address, and an interface entry stands for all of its usable addresses; list the address as a fixed entry with flags [signal] to give it a port")
			} else if port, ok := p.integer(v, "port", portRule); ok {
				pe.Port, portNode = uint16(port), v
			}
		case "family":
			if !isInterface {
				p.errorf(f.key, "family applies only to interface entries; a fixed entry's family is that of its address")
			} else if fam, ok := p.family(v); ok {
				pe.Family = fam
			}
		case "link_local", "ula", "temporary":
			if !isInterface {
				p.errorf(f.key, "%s applies only to interface entries; a fixed entry's address is used as given", f.name)
				continue
			}
			b, ok := p.boolean(v, f.name)
			if !ok {
				continue
			}
			switch f.name {
			case "link_local":
				pe.IncludeLinkLocal = b
			case "ula":
				pe.IncludeULA = b
			case "temporary":
				pe.IncludeTemporary = b
			}
		case "flags":
			pe.Flags, flagNodes = p.flags(f)
		}
	}

	if fm, ok := flagNodes[mptcp.FlagFullmesh]; ok && pe.Flags.Has(mptcp.FlagSignal) {
		p.errorf(fm, "fullmesh cannot be combined with signal: the kernel refuses it (EINVAL); fullmesh belongs on subflow endpoints, so drop one of the two")
	}
	if portNode != nil && pe.Flags&(mptcp.FlagSignal|mptcp.FlagSubflow) != mptcp.FlagSignal {
		p.errorf(portNode, "port needs flags with signal and without subflow (the port is where the kernel listens for the subflows it announces, and it refuses a port otherwise: EINVAL); got flags [%s]",
			strings.Join(pe.Flags.Names(), ", "))
	}
	return pe, true
}

// address reads a fixed entry's address: one unicast IP, stored unmapped.
func (p *parser) address(n *yaml.Node) (netip.Addr, bool) {
	s, ok := p.str(n, "address", "an IP address such as 192.0.2.10 or 2001:db8::10")
	if !ok {
		return netip.Addr{}, false
	}
	if pfx, err := netip.ParsePrefix(s); err == nil {
		p.errorf(n, "address %q must be a single address without a prefix length: write %s", clip(s), pfx.Addr().Unmap())
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		p.errorf(n, "address %q is not an IP address; write one such as 192.0.2.10 or 2001:db8::10", clip(s))
		return netip.Addr{}, false
	}
	if a.Zone() != "" {
		p.errorf(n, "address %q must not carry a zone: write address: %s with dev: %s", clip(s), a.WithZone(""), clip(a.Zone()))
		return netip.Addr{}, false
	}
	a = a.Unmap()
	shown := a.String()
	if shown != s {
		shown = fmt.Sprintf("%s (%s)", s, a)
	}
	switch {
	case a.IsUnspecified():
		p.errorf(n, "address %s is the unspecified address; an endpoint needs a unicast address of this host", shown)
	case a.IsMulticast():
		p.errorf(n, "address %s is a multicast address; an endpoint needs a unicast address of this host", shown)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		p.errorf(n, "address %s is the broadcast address; an endpoint needs a unicast address of this host", shown)
	default:
		return a, true
	}
	return netip.Addr{}, false
}

// ifName reads a Linux device name.
func (p *parser) ifName(n *yaml.Node, what string) (string, bool) {
	if n.Kind == yaml.ScalarNode && slices.Contains([]string{"!!int", "!!float", "!!bool"}, n.ShortTag()) {
		// YAML reads 0 or true as other types; the name needs quotes.
		p.errorf(n, "%s must be a device name such as eth0, got %s (quote it: %q)", what, describe(n), clip(n.Value))
		return "", false
	}
	name, ok := p.str(n, what, "a device name such as eth0")
	if !ok {
		return "", false
	}
	if why := checkIfName(name); why != "" {
		p.errorf(n, "%s name %q %s", what, clip(name), why)
		return "", false
	}
	return name, true
}

// familyAliases maps words people use for address families to ours.
var familyAliases = map[string]string{"inet": "ipv4", "inet4": "ipv4", "inet6": "ipv6", "4": "ipv4", "6": "ipv6", "all": "any", "both": "any"}

func (p *parser) family(n *yaml.Node) (Family, bool) {
	if n.Kind == yaml.ScalarNode && !slices.Contains(families, n.Value) {
		if alias, ok := familyAliases[strings.ToLower(n.Value)]; ok {
			p.errorf(n, "family must be %s, got %q; did you mean %q?", orList(families), clip(n.Value), alias)
			return "", false
		}
	}
	f, ok := p.choice(n, "family", families)
	return Family(f), ok
}

// flags reads the flags list of an entry. It returns the flags and the
// node of each, for messages about combinations.
func (p *parser) flags(f field) (mptcp.Flags, map[mptcp.Flags]*yaml.Node) {
	n := f.value
	known := FlagNames()
	switch {
	case isNull(n):
		p.errorf(f.key, "flags has no value; write flags: [] for none, or list them, as in flags: [subflow]")
		return 0, nil
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str":
		p.errorf(n, "flags must be a list, even of one flag: write flags: [%s]", clip(n.Value))
		return 0, nil
	case n.Kind != yaml.SequenceNode:
		if n.Kind != yaml.AliasNode {
			p.errorf(n, "flags must be a list of flag names (%s), got %s", strings.Join(known, ", "), describe(n))
		}
		return 0, nil
	}
	var flags mptcp.Flags
	nodes := map[mptcp.Flags]*yaml.Node{}
	for _, item := range n.Content {
		name, ok := p.str(item, "each flag", "a flag name ("+strings.Join(known, ", ")+")")
		if !ok {
			continue
		}
		flag, ok := mptcp.ParseFlag(name)
		switch {
		case flag == mptcp.FlagImplicit:
			p.errorf(item, "flag \"implicit\" cannot be requested: the kernel sets it only on endpoints it makes by itself when a subflow uses an address that has none, and refuses it in a request (EINVAL); use subflow or signal")
			continue
		case !ok:
			p.errorf(item, "unknown flag %q%s (known: %s)", clip(name), didYouMean(name, known), strings.Join(known, ", "))
			continue
		}
		if prev, dup := nodes[flag]; dup {
			p.errorf(item, "flag %q is listed twice (first at line %d, column %d); keep only one", name, prev.Line, prev.Column)
			continue
		}
		nodes[flag] = item
		flags |= flag
	}
	return flags, nodes
}

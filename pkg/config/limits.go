package config

import (
	"fmt"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
	yaml "go.yaml.in/yaml/v3"
)

// limitKeys are the keys of the limits section.
var limitKeys = []string{"subflows", "add_addr_accepted"}

// limitRule is the range the kernel takes for either limit.
var limitRule = intRule{lo: 0, hi: mptcp.MaxLimit, expect: fmt.Sprintf("an integer 0..%d (the kernel's maximum)", mptcp.MaxLimit)}

// limits reads the limits section. An empty mapping is kept as a non-nil
// update that changes nothing, so that Format writes it back.
func (p *parser) limits(f field) *mptcp.LimitsUpdate {
	n := f.value
	if isNull(n) {
		p.errorf(f.key, "limits has no value; give subflows and/or add_addr_accepted, or remove the key to leave the kernel's limits alone")
		return nil
	}
	if n.Kind != yaml.MappingNode {
		if n.Kind != yaml.AliasNode {
			p.errorf(n, "limits must be a mapping such as {subflows: 2, add_addr_accepted: 2}, got %s", describe(n))
		}
		return nil
	}
	u := &mptcp.LimitsUpdate{}
	for _, lf := range p.pairs(n, "in limits", nil) {
		var dst **uint32
		switch lf.name {
		case "subflows":
			dst = &u.Subflows
		case "add_addr_accepted":
			dst = &u.AddAddrAccepted
		default:
			p.unknownKey(lf.key, "in limits", limitKeys, nil)
			continue
		}
		if v, ok := p.integer(lf.value, lf.name, limitRule); ok {
			v32 := uint32(v)
			*dst = &v32
		}
	}
	return u
}

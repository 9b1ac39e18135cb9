package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// sysctlPrefix may precede a sysctl's name in the file, as in `sysctl -a`.
const sysctlPrefix = "net.mptcp."

// maxSeconds is the largest timeout every kernel takes: the value is kept
// in jiffies in an int, so the bound is INT_MAX/HZ, and HZ is at most 1000.
const maxSeconds = 2147483

// sysctlRule is the schema of one net.mptcp sysctl.
type sysctlRule struct {
	name string
	// numeric values are written by Format as YAML integers.
	numeric bool
	// read checks the value node and returns what /proc/sys takes.
	read func(p *parser, n *yaml.Node, what string) (string, bool)
}

// sysctlRules lists the writable per-namespace sysctls in the order of
// the kernel's documentation (ip-sysctl.rst).
var sysctlRules = []sysctlRule{
	{"enabled", true, readToggle},
	{"add_addr_timeout", true, readSeconds},
	{"path_manager", false, readPathManager},
	{"pm_type", true, readPMType},
	{"scheduler", false, readScheduler},
	{"checksum_enabled", true, readToggle},
	{"allow_join_initial_addr_port", true, readToggle},
	{"stale_loss_cnt", true, readUint(intRule{lo: 1, hi: 1<<32 - 1, expect: "an integer 1..4294967295"})},
	{"close_timeout", true, readSeconds},
	{"blackhole_timeout", true, readSeconds},
	{"syn_retrans_before_tcp_fallback", true, readUint(intRule{lo: 0, hi: 255, expect: "an integer 0..255"})},
}

// readOnlySysctls are net.mptcp entries that only report.
var readOnlySysctls = map[string]string{
	"available_schedulers":    "scheduler",
	"available_path_managers": "path_manager",
}

// SysctlNames returns the net.mptcp sysctls a file may set, without the
// "net.mptcp." prefix.
func SysctlNames() []string {
	names := make([]string, len(sysctlRules))
	for i, r := range sysctlRules {
		names[i] = r.name
	}
	return names
}

func sysctlRuleFor(name string) *sysctlRule {
	for i := range sysctlRules {
		if sysctlRules[i].name == name {
			return &sysctlRules[i]
		}
	}
	return nil
}

// sysctls reads the sysctl section: net.mptcp.* values by name, with or
// without the prefix.
func (p *parser) sysctls(f field) []Sysctl {
	n := f.value
	if isNull(n) {
		p.errorf(f.key, "sysctl has no value; give settings such as {enabled: 1}, or remove the key")
		return nil
	}
	if n.Kind != yaml.MappingNode {
		if n.Kind != yaml.AliasNode {
			p.errorf(n, "sysctl must be a mapping of net.mptcp settings such as {enabled: 1}, got %s", describe(n))
		}
		return nil
	}
	names := SysctlNames()
	sysctls := []Sysctl{}
	var pmType, pathManager *yaml.Node
	for _, sf := range p.pairs(n, "in sysctl", func(s string) string { return strings.TrimPrefix(s, sysctlPrefix) }) {
		rule := sysctlRuleFor(sf.name)
		if rule == nil {
			if settable, ok := readOnlySysctls[sf.name]; ok {
				p.errorf(sf.key, "sysctl %q is read-only (it lists what %s accepts); remove it", sf.key.Value, settable)
				continue
			}
			p.errorf(sf.key, "unknown sysctl %q%s (known: %s)", clip(sf.key.Value), didYouMean(sf.name, names), strings.Join(names, ", "))
			continue
		}
		switch sf.name {
		case "pm_type":
			pmType = sf.key
		case "path_manager":
			pathManager = sf.key
		}
		if v, ok := rule.read(p, sf.value, sysctlPrefix+rule.name); ok {
			sysctls = append(sysctls, Sysctl{Pos: pos(sf.key), Name: rule.name, Value: v})
		}
	}
	if pmType != nil && pathManager != nil {
		later, earlier := pmType, pathManager
		if later.Line < earlier.Line || (later.Line == earlier.Line && later.Column < earlier.Column) {
			later, earlier = earlier, later
		}
		p.errorf(later, "pm_type and path_manager (line %d) are two names for one setting (pm_type 0 is path_manager kernel, 1 is userspace); set only one: path_manager on Linux 6.15 and later, pm_type before",
			earlier.Line)
	}
	return sysctls
}

// readToggle reads a 0|1 setting, written as 0/1 or false/true.
func readToggle(p *parser, n *yaml.Node, what string) (string, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			if b {
				return "1", true
			}
			return "0", true
		}
	}
	v, ok := p.integer(n, what, intRule{lo: 0, hi: 1, expect: "0 or 1 (or false/true)"})
	return strconv.FormatInt(v, 10), ok
}

func readSeconds(p *parser, n *yaml.Node, what string) (string, bool) {
	v, ok := p.integer(n, what, intRule{lo: 0, hi: maxSeconds, expect: fmt.Sprintf("a number of seconds 0..%d", maxSeconds)})
	return strconv.FormatInt(v, 10), ok
}

func readUint(r intRule) func(p *parser, n *yaml.Node, what string) (string, bool) {
	return func(p *parser, n *yaml.Node, what string) (string, bool) {
		v, ok := p.integer(n, what, r)
		return strconv.FormatInt(v, 10), ok
	}
}

func readPMType(p *parser, n *yaml.Node, what string) (string, bool) {
	v, ok := p.integer(n, what, intRule{lo: 0, hi: 1, expect: "0 (kernel) or 1 (userspace)"})
	return strconv.FormatInt(v, 10), ok
}

func readPathManager(p *parser, n *yaml.Node, what string) (string, bool) {
	return p.choice(n, what, []string{"kernel", "userspace"})
}

// schedulerName is what the kernel takes as a scheduler name: at most
// MPTCP_SCHED_NAME_MAX (16) bytes with the terminating NUL.
var schedulerName = regexp.MustCompile(`^[a-z0-9_]{1,15}$`)

func readScheduler(p *parser, n *yaml.Node, what string) (string, bool) {
	const expect = "a scheduler name of 1..15 characters a-z, 0-9 and _ (such as default)"
	s, ok := p.str(n, what, expect)
	if !ok {
		return "", false
	}
	if !schedulerName.MatchString(s) {
		p.errorf(n, "%s must be %s, got %q", what, expect, clip(s))
		return "", false
	}
	return s, true
}

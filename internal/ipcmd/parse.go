package ipcmd

import (
	"fmt"
	"math"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
)

// Op is what a command does.
type Op int

// The commands of the language.
const (
	OpHelp Op = iota + 1
	OpEndpointAdd
	OpEndpointDelete
	OpEndpointChange
	OpEndpointShow
	OpEndpointFlush
	OpLimitsSet
	OpLimitsShow
	OpMonitor
)

func (op Op) String() string {
	switch op {
	case OpHelp:
		return "help"
	case OpEndpointAdd:
		return "endpoint add"
	case OpEndpointDelete:
		return "endpoint delete"
	case OpEndpointChange:
		return "endpoint change"
	case OpEndpointShow:
		return "endpoint show"
	case OpEndpointFlush:
		return "endpoint flush"
	case OpLimitsSet:
		return "limits set"
	case OpLimitsShow:
		return "limits show"
	case OpMonitor:
		return "monitor"
	}
	return fmt.Sprintf("Op(%d)", int(op))
}

// Command is one parsed command line.
type Command struct {
	Op Op
	// Topic is the help page OpHelp prints ("" for the overview,
	// "endpoint add", ...).
	Topic string
	// Endpoint holds what an endpoint command was given: id, address
	// (as typed: an IPv4-mapped address stays mapped), port and flags.
	// For change, Flags is the complete backup/fullmesh state to set.
	Endpoint mptcp.Endpoint
	// IDSet tells "id 0" from no id at all.
	IDSet bool
	// Dev is the device named with "dev". It is resolved to an index in
	// the kernel's namespace when the command runs.
	Dev string
	// Limits is what "limits set" was given.
	Limits mptcp.LimitsUpdate
}

// Parse reads one command (the words after `mptcpd`, or after `ip mptcp`).
// Keywords may be shortened to any prefix, as in iproute2; where two
// keywords share a prefix the one iproute2 tests first wins. Parse does no
// I/O: whether a device exists is checked when the command runs.
func Parse(args []string) (Command, error) {
	if len(args) == 0 {
		return Command{}, usagef("", "missing command: expected endpoint, limits or monitor")
	}
	word, rest := args[0], args[1:]
	switch {
	case isHelp(word):
		return help(""), nil
	case matches(word, "endpoint"):
		return parseEndpoint(rest)
	case matches(word, "limits"):
		return parseLimits(rest)
	case matches(word, "monitor"):
		return parseMonitor(rest)
	}
	return Command{}, usagef("", "unknown command %q: expected endpoint, limits or monitor", word)
}

// isHelp reports whether a word asks for help: "help" or any prefix of it
// (as iproute2 takes it), "-h", "-help" or "--help".
func isHelp(word string) bool {
	return matches(word, "help") || word == "-h" || word == "-help" || word == "--help"
}

func help(topic string) Command { return Command{Op: OpHelp, Topic: topic} }

func parseEndpoint(args []string) (Command, error) {
	if len(args) == 0 {
		return Command{Op: OpEndpointShow}, nil
	}
	word, rest := args[0], args[1:]
	// iproute2's order: add, change, delete, show, flush.
	switch {
	case isHelp(word):
		return help("endpoint"), nil
	case matches(word, "add"):
		return parseEndpointOpts(OpEndpointAdd, rest)
	case matches(word, "change"):
		return parseEndpointOpts(OpEndpointChange, rest)
	case matches(word, "delete"):
		return parseEndpointOpts(OpEndpointDelete, rest)
	case matches(word, "show"):
		if len(rest) == 0 {
			return Command{Op: OpEndpointShow}, nil
		}
		return parseEndpointOpts(OpEndpointShow, rest)
	case matches(word, "flush"):
		return noArgs(Command{Op: OpEndpointFlush}, rest,
			"endpoint flush takes no arguments: it deletes every endpoint (to delete one, use \"endpoint delete id ID\")")
	}
	return Command{}, usagef("endpoint", "unknown endpoint command %q: expected add, change, delete, show or flush", word)
}

// noArgs returns cmd when args is empty, its help page when args is a help
// request, and a usage error otherwise. iproute2 ignores the arguments of
// `endpoint flush`; mptcpd refuses them, since `flush id 3` would otherwise
// delete every endpoint.
func noArgs(cmd Command, args []string, msg string) (Command, error) {
	switch {
	case len(args) == 0:
		return cmd, nil
	case isHelp(args[0]):
		return help(cmd.Op.String()), nil
	}
	return Command{}, &UsageError{Msg: msg, Topic: cmd.Op.String()}
}

// flagWords are the flag words of iproute2's get_flags, in its order, plus
// laminar. They must be typed in full. The "no" forms add nothing: the
// flags `endpoint change` sends are those named, so "nobackup" clears
// backup by leaving it out (and clears fullmesh too unless "fullmesh" is
// also given), exactly as `ip mptcp endpoint change` does.
var flagWords = []struct {
	word string
	flag mptcp.Flags
}{
	{"signal", mptcp.FlagSignal},
	{"subflow", mptcp.FlagSubflow},
	{"backup", mptcp.FlagBackup},
	{"fullmesh", mptcp.FlagFullmesh},
	{"laminar", mptcp.FlagLaminar},
	{"nobackup", 0},
	{"nofullmesh", 0},
}

func flagWord(word string) (mptcp.Flags, bool) {
	for _, fw := range flagWords {
		if fw.word == word {
			return fw.flag, true
		}
	}
	return 0, false
}

// parseEndpointOpts reads the options of add, change, delete and show
// with iproute2's mptcp_parse_opt: each word is tried as a flag, then as
// the keywords id, dev and port (prefixes allowed, in that order), then as
// an address; the first bad word is the error. Then the checks that need
// the whole line run in iproute2's order.
func parseEndpointOpts(op Op, args []string) (Command, error) {
	topic := op.String()
	cmd := Command{Op: op}
	ep := &cmd.Endpoint
	for i := 0; i < len(args); i++ {
		word := args[i]
		if f, ok := flagWord(word); ok {
			ep.Flags |= f
			if op == OpEndpointAdd && ep.Flags.Has(mptcp.FlagSignal|mptcp.FlagFullmesh) {
				return Command{}, usagef(topic, "flags signal and fullmesh cannot be combined: fullmesh makes subflows to every announced address, signal announces this one (use subflow fullmesh)")
			}
			if op == OpEndpointChange && f&^mptcp.MutableFlags != 0 {
				return Command{}, usagef(topic, "endpoint change cannot set %q: only backup, nobackup, fullmesh and nofullmesh change in place (delete and add the endpoint to change the rest)", word)
			}
			continue
		}
		if isHelp(word) {
			return help(topic), nil
		}
		switch {
		case matches(word, "id"):
			v, err := value(args, &i, topic, "id ID, where ID is 1..255")
			if err != nil {
				return Command{}, err
			}
			id, ok := parseUint(v, math.MaxUint8)
			if !ok {
				return Command{}, usagef(topic, "invalid id %q: an endpoint id is 1..255", v)
			}
			ep.ID, cmd.IDSet = uint8(id), true
		case matches(word, "dev"):
			v, err := value(args, &i, topic, "dev NAME")
			if err != nil {
				return Command{}, err
			}
			if !validIfName(v) {
				return Command{}, usagef(topic, "invalid device name %q: a device name has 1 to 15 characters, none of them \"/\" or white space", v)
			}
			cmd.Dev = v
		case matches(word, "port"):
			v, err := value(args, &i, topic, "port NR, where NR is 1..65535")
			if err != nil {
				return Command{}, err
			}
			port, ok := parseUint(v, math.MaxUint16)
			if !ok {
				return Command{}, usagef(topic, "invalid port %q: a port is 1..65535", v)
			}
			ep.Port = uint16(port)
		case word == "implicit":
			return Command{}, usagef(topic, "flag \"implicit\" cannot be requested: the kernel sets it on endpoints it creates by itself")
		case word == "default" || word == "any" || word == "all":
			return Command{}, usagef(topic, "%q is not an endpoint address: give one IPv4 or IPv6 address", word)
		default:
			addr, ok := parseAddr(word)
			if !ok {
				return Command{}, usagef(topic, "invalid argument %q: %s", word, expected(op))
			}
			ep.Addr = addr
		}
	}
	return cmd, checkEndpoint(cmd)
}

// value consumes the word after a keyword.
func value(args []string, i *int, topic, form string) (string, error) {
	if *i+1 >= len(args) {
		return "", usagef(topic, "%q needs a value: %s", args[*i], form)
	}
	*i++
	return args[*i], nil
}

func expected(op Op) string {
	switch op {
	case OpEndpointAdd:
		return "expected an IPv4 or IPv6 address, a flag (signal, subflow, backup, fullmesh, laminar), or id ID, dev NAME, port NR"
	case OpEndpointChange:
		return "expected id ID, an IPv4 or IPv6 address, port NR, or backup, nobackup, fullmesh, nofullmesh"
	case OpEndpointDelete:
		return "expected id ID (and, with id 0 only, an IPv4 or IPv6 address)"
	}
	return "expected id ID"
}

// checkEndpoint runs the checks that need the whole line, in iproute2's
// order, plus a few of mptcpd's own where iproute2 would send a request
// the kernel can only refuse.
func checkEndpoint(cmd Command) error {
	topic := cmd.Op.String()
	ep := cmd.Endpoint
	hasAddr := ep.Addr.IsValid()
	switch cmd.Op {
	case OpEndpointAdd:
		if !hasAddr {
			return usagef(topic, "endpoint add needs an address: endpoint add ADDRESS [dev NAME] [id ID] [port NR] [FLAG...]")
		}
		if ep.Port != 0 && !ep.Flags.Has(mptcp.FlagSignal) {
			return usagef(topic, "port %d needs the signal flag: only a signal endpoint is announced to peers with its port", ep.Port)
		}
	case OpEndpointDelete:
		switch {
		case !cmd.IDSet:
			return usagef(topic, "endpoint delete needs an id: endpoint delete id ID")
		case ep.ID != 0 && hasAddr:
			return usagef(topic, "endpoint delete id %d takes no address: the kernel finds the endpoint by its id alone (an address goes only with id 0)", ep.ID)
		case ep.ID == 0 && !hasAddr:
			return usagef(topic, "endpoint delete id 0 needs an address: id 0 names no endpoint; \"delete id 0 ADDRESS\" closes the initial subflows of connections from ADDRESS")
		}
	case OpEndpointChange:
		if cmd.IDSet && ep.Port != 0 {
			return usagef(topic, "endpoint change takes id ID, or ADDRESS [port NR], not id and port: the port only helps find an endpoint by address")
		}
		if ep.ID == 0 && !hasAddr {
			return usagef(topic, "endpoint change needs id ID (1..255) or the endpoint's address to find it")
		}
	case OpEndpointShow:
		if !cmd.IDSet {
			return usagef(topic, "endpoint show takes no arguments (to show every endpoint) or id ID (to show one)")
		}
		if ep.ID == 0 {
			return usagef(topic, "invalid id \"0\": no endpoint has id 0; an endpoint id is 1..255")
		}
		if hasAddr || ep.Port != 0 || ep.Flags != 0 || cmd.Dev != "" {
			return usagef(topic, "endpoint show takes only id ID: it shows that one endpoint, whatever else the line says")
		}
	}
	return nil
}

func parseLimits(args []string) (Command, error) {
	if len(args) == 0 {
		return Command{Op: OpLimitsShow}, nil
	}
	word, rest := args[0], args[1:]
	switch {
	case isHelp(word):
		return help("limits"), nil
	case matches(word, "set"):
		return parseLimitsSet(rest)
	case matches(word, "show"):
		return noArgs(Command{Op: OpLimitsShow}, rest, "limits show takes no arguments")
	}
	return Command{}, usagef("limits", "unknown limits command %q: expected set or show", word)
}

// parseLimitsSet reads `limits set [subflows NR] [add_addr_accepted NR]`.
// A value is any 32-bit number, as in iproute2: the kernel refuses those
// above 8 with its own message. A limit given twice takes the last value.
func parseLimitsSet(args []string) (Command, error) {
	const topic = "limits set"
	cmd := Command{Op: OpLimitsSet}
	for i := 0; i < len(args); i++ {
		word := args[i]
		var target **uint32
		var name string
		switch {
		case matches(word, "subflows"):
			target, name = &cmd.Limits.Subflows, "subflows"
		case matches(word, "add_addr_accepted"):
			target, name = &cmd.Limits.AddAddrAccepted, "add_addr_accepted"
		case isHelp(word):
			return help(topic), nil
		default:
			return Command{}, usagef(topic, "unknown limit %q: expected subflows NR or add_addr_accepted NR", word)
		}
		v, err := value(args, &i, topic, fmt.Sprintf("%s NR, where NR is 0..%d", name, mptcp.MaxLimit))
		if err != nil {
			return Command{}, err
		}
		n, ok := parseUint(v, math.MaxUint32)
		if !ok {
			return Command{}, usagef(topic, "invalid %s %q: a limit is 0..%d", name, v, mptcp.MaxLimit)
		}
		u := uint32(n)
		*target = &u
	}
	return cmd, nil
}

func parseMonitor(args []string) (Command, error) {
	return noArgs(Command{Op: OpMonitor}, args, "monitor takes no arguments")
}

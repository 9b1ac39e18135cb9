package ipcmd

import (
	"strings"
)

// commandHelp is the help of one command: its synopsis (after the
// program's name) and what it does. The order is the overview's.
var commandHelp = []struct {
	topic, synopsis, details string
}{
	{"endpoint add", "endpoint add ADDRESS [ dev NAME ] [ id ID ] [ port NR ] [ FLAG-LIST ]", `Adds an endpoint: a local address the kernel's path manager may use for
additional subflows (subflow) or announce to peers (signal). Without an id
(or with id 0) the kernel chooses one. A port needs signal without subflow:
the kernel then listens on ADDRESS:NR, which must be a local address and a
free port. dev binds the endpoint's subflows to a device. At most 8
endpoints exist per network namespace. laminar (Linux 6.18+) is a flag
iproute2 6.1 cannot set and shows as "rawflags 20".
`},
	{"endpoint delete", "endpoint delete id ID [ ADDRESS ]", `Deletes the endpoint with this id; live subflows using it are closed and
peers are told (RM_ADDR). "delete id 0 ADDRESS" deletes no endpoint: it
closes the initial subflow of every connection from ADDRESS.
`},
	{"endpoint change", "endpoint change [ id ID ] [ ADDRESS ] [ port NR ] CHANGE-OPT", `Changes backup and fullmesh in place, without closing subflows; the
endpoint is found by id, or by ADDRESS (and port). The flags set are exactly
those named, as with ip: "change id 1 backup" also clears fullmesh, and
"nobackup" alone clears both. Other flags, the port and the device cannot
change in place: delete and add the endpoint.
`},
	{"endpoint show", "endpoint show [ id ID ]", `Prints every endpoint, or the one with this id, as ip mptcp does:
ADDRESS [port P] id N [FLAG...] [dev NAME]. With -j, JSON.
`},
	{"endpoint flush", "endpoint flush", `Deletes every endpoint (closing their subflows) and resets the kernel's
id allocator.
`},
	{"limits set", "limits set [ subflows NR ] [ add_addr_accepted NR ]", `Sets the most additional subflows a connection may have, and the most
addresses announced by a peer it accepts; each 0..8. Either may be left
out, which leaves it as it is.
`},
	{"limits show", "limits show", `Prints the limits as ip mptcp does: add_addr_accepted A subflows S.
`},
	{"monitor", "monitor", `Prints path manager events (connections, subflows, announcements,
listeners) as they happen, one line each, until interrupted. With -j, one
JSON object per line.
`},
}

const grammar = `FLAG-LIST := [ FLAG-LIST ] FLAG
FLAG := signal | subflow | backup | fullmesh | laminar
CHANGE-OPT := backup | nobackup | fullmesh | nofullmesh
`

// Usage returns the help text of a topic: "" for every ip-mptcp command,
// "endpoint" or "limits" for a group, or one command such as
// "endpoint add".
func Usage(prog, topic string) string {
	var b strings.Builder
	var details []string
	n := 0
	for _, c := range commandHelp {
		if topic != "" && c.topic != topic && !strings.HasPrefix(c.topic, topic+" ") {
			continue
		}
		if n == 0 {
			b.WriteString("Usage: ")
		} else {
			b.WriteString("       ")
		}
		n++
		b.WriteString(prog + " " + c.synopsis + "\n")
		if topic == c.topic {
			details = append(details, c.details)
		} else {
			details = append(details, c.synopsis+":\n"+c.details)
		}
	}
	if topic == "" || strings.HasPrefix(topic, "endpoint") {
		b.WriteString(grammar)
	}
	if topic != "" {
		for _, d := range details {
			b.WriteString("\n" + d)
		}
	}
	b.WriteString(`
Keywords may be shortened to any prefix, as with ip ("endp a" is
"endpoint add"). Exit status: 0 success, 1 the kernel refused or another
failure, 2 usage error.
`)
	return b.String()
}

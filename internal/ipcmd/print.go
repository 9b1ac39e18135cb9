package ipcmd

import (
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
	"github.com/mptcpd/mptcpd/pkg/pm"
)

// Format says how to print: iproute2's text, or its JSON (-j), pretty
// (-j -p) or not.
type Format struct {
	JSON   bool
	Pretty bool
}

// ShownEndpoint is an endpoint as show prints it: with the name of its
// device (empty when it has none).
type ShownEndpoint struct {
	mptcp.Endpoint
	Dev string
}

// FormatEndpoints prints endpoints as `ip mptcp endpoint show` does: one
// line each, "ADDR [port P ]id N [FLAG ...][dev NAME ]", every item
// followed by a space; unknown flag bits as "rawflags HEX". In JSON, an
// array with one object per endpoint, each flag a key set to true.
func FormatEndpoints(eps []ShownEndpoint, f Format) string {
	var b strings.Builder
	if !f.JSON {
		for _, ep := range eps {
			writeEndpointText(&b, ep)
		}
		return b.String()
	}
	w := newJSONWriter(&b, f.Pretty)
	w.startArray()
	for _, ep := range eps {
		writeEndpointJSON(w, ep)
	}
	w.endArray()
	w.finish()
	return b.String()
}

func writeEndpointText(b *strings.Builder, ep ShownEndpoint) {
	b.WriteString(formatAddr(ep.Addr))
	b.WriteByte(' ')
	if ep.Port != 0 {
		fmt.Fprintf(b, "port %d ", ep.Port)
	}
	fmt.Fprintf(b, "id %d ", ep.ID)
	for _, name := range (ep.Flags & mptcp.KnownFlags).Names() {
		b.WriteString(name + " ")
	}
	if rest := ep.Flags &^ mptcp.KnownFlags; rest != 0 {
		fmt.Fprintf(b, "rawflags %02x ", uint32(rest))
	}
	if ep.IfIndex != 0 {
		fmt.Fprintf(b, "dev %s ", ep.Dev)
	}
	b.WriteByte('\n')
}

func writeEndpointJSON(w *jsonWriter, ep ShownEndpoint) {
	w.startObject()
	w.stringField("address", formatAddr(ep.Addr))
	if ep.Port != 0 {
		w.uintField("port", uint64(ep.Port))
	}
	w.uintField("id", uint64(ep.ID))
	for _, name := range (ep.Flags & mptcp.KnownFlags).Names() {
		w.boolField(name, true)
	}
	if rest := ep.Flags &^ mptcp.KnownFlags; rest != 0 {
		w.stringField("rawflags", fmt.Sprintf("%02x", uint32(rest)))
	}
	if ep.IfIndex != 0 {
		w.stringField("dev", ep.Dev)
	}
	w.endObject()
}

// FormatLimits prints limits as `ip mptcp limits show` does
// ("add_addr_accepted A subflows S ", trailing space included), or as one
// JSON object.
func FormatLimits(l mptcp.Limits, f Format) string {
	if !f.JSON {
		return fmt.Sprintf("add_addr_accepted %d subflows %d \n", l.AddAddrAccepted, l.Subflows)
	}
	var b strings.Builder
	w := newJSONWriter(&b, f.Pretty)
	w.startObject()
	w.uintField("add_addr_accepted", uint64(l.AddAddrAccepted))
	w.uintField("subflows", uint64(l.Subflows))
	w.endObject()
	w.finish()
	return b.String()
}

// eventField is one "key=value" item of a monitor line.
type eventField struct {
	key  string
	text string // as the text line prints it
	num  *int64 // set when JSON prints a number
}

// eventFields lists what the event carries in the order and notation of
// iproute2's mptcp_monitor_msg. has tells which attributes the kernel sent
// (pm.Event.Has; a parameter so tests can build events).
func eventFields(ev pm.Event, has func(pm.EventAttr) bool) []eventField {
	var out []eventField
	num := func(key string, v int64, text string) {
		out = append(out, eventField{key: key, text: text, num: &v})
	}
	if has(pm.EvToken) {
		out = append(out, eventField{key: "token", text: fmt.Sprintf("%08x", ev.Token)})
	}
	if has(pm.EvRemoteID) {
		num("remid", int64(ev.RemoteID), fmt.Sprint(ev.RemoteID))
	}
	if has(pm.EvLocalID) {
		num("locid", int64(ev.LocalID), fmt.Sprint(ev.LocalID))
	}
	// iproute2 prints saddr4, daddr4, saddr6, daddr6 in that order.
	for _, want6 := range []bool{false, true} {
		for _, a := range []struct {
			key  string
			attr pm.EventAttr
			addr netip.Addr
		}{{"saddr", pm.EvSaddr, ev.Saddr}, {"daddr", pm.EvDaddr, ev.Daddr}} {
			if !has(a.attr) {
				continue
			}
			text, is6 := eventAddr(a.addr, ev.Family)
			if is6 == want6 {
				key := a.key + "4"
				if is6 {
					key = a.key + "6"
				}
				out = append(out, eventField{key: key, text: text})
			}
		}
	}
	if has(pm.EvSport) {
		num("sport", int64(ev.Sport), fmt.Sprint(ev.Sport))
	}
	if has(pm.EvDport) {
		num("dport", int64(ev.Dport), fmt.Sprint(ev.Dport))
	}
	if has(pm.EvBackup) {
		num("backup", int64(ev.Backup), fmt.Sprint(ev.Backup))
	}
	if has(pm.EvError) {
		num("error", int64(ev.Error), fmt.Sprint(ev.Error))
	}
	if has(pm.EvFlags) {
		num("flags", int64(ev.Flags), fmt.Sprintf("%x", ev.Flags))
	}
	if has(pm.EvTimeout) {
		num("timeout", int64(ev.Timeout), fmt.Sprint(ev.Timeout))
	}
	if has(pm.EvIfIndex) {
		num("ifindex", int64(ev.IfIndex), fmt.Sprint(ev.IfIndex))
	}
	if has(pm.EvResetReason) {
		num("reset_reason", int64(ev.ResetReason), fmt.Sprint(ev.ResetReason))
	}
	if has(pm.EvResetFlags) {
		num("reset_flags", int64(ev.ResetFlags), fmt.Sprintf("0x%x", ev.ResetFlags))
	}
	return out
}

// eventAddr gives back the address as the kernel sent it: pm unmaps
// addresses, but an IPv6 event (from a dual-stack socket) carries IPv4
// peers as ::ffff:a.b.c.d, and iproute2 prints that under saddr6.
func eventAddr(a netip.Addr, family uint16) (text string, is6 bool) {
	switch {
	case family == unix.AF_INET6 && a.Is4():
		return formatAddr(netip.AddrFrom16(a.As16())), true
	case family == unix.AF_INET6 || (family != unix.AF_INET && a.Is6()):
		return formatAddr(a), true
	}
	return formatAddr(a), false
}

// FormatEvent prints one event as `ip mptcp monitor` does
// ("[       CREATED] token=... remid=..."), or as one JSON object on one
// line (with -p, pretty-printed) with the same keys and "event" for the
// name. The name is right-aligned in 14 columns, as the iproute2 of these
// hosts (6.1) prints it, so the lines of the events it knows are the same
// byte for byte; the listener events, which 6.1 prints as "[UNKNOWN 15]",
// get their names, as newer iproute2 gives them (as laminar in show).
func FormatEvent(ev pm.Event, has func(pm.EventAttr) bool, f Format) string {
	name, known := ev.Type.Name()
	if !f.JSON {
		if !known {
			return fmt.Sprintf("[UNKNOWN %d]\n", ev.Type)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "[%14s]", name)
		for _, fld := range eventFields(ev, has) {
			fmt.Fprintf(&b, " %s=%s", fld.key, fld.text)
		}
		b.WriteByte('\n')
		return b.String()
	}
	var b strings.Builder
	w := newJSONWriter(&b, f.Pretty)
	w.startObject()
	if !known {
		name = fmt.Sprintf("UNKNOWN %d", ev.Type)
	}
	w.stringField("event", name)
	if known {
		for _, fld := range eventFields(ev, has) {
			if fld.num != nil {
				w.intField(fld.key, *fld.num)
			} else {
				w.stringField(fld.key, fld.text)
			}
		}
	}
	w.endObject()
	w.finish()
	return b.String()
}

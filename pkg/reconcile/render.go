package reconcile

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
)

// String renders the step on one line, as `mptcpd plan` prints it:
// "+ add 192.0.2.10 id 10 subflow backup dev eth1",
// "- delete 192.0.2.99 id 7 (not in the file)",
// "~ change 192.0.2.10 id 10: backup -> nobackup",
// "-/+ replace 192.0.2.11 id 3: port 0 -> 8080 forces replacement",
// "limits: subflows 2 -> 4", "sysctl net.mptcp.enabled: 0 -> 1".
func (s Step) String() string {
	switch s.Kind {
	case Add:
		line := "+ add " + endpointText(s.To, s.ToDev, true)
		if s.Reason != "" {
			line += " (" + s.Reason + ")"
		}
		return line
	case Delete:
		return fmt.Sprintf("- delete %s (%s)", endpointKeyText(s.From), s.Reason)
	case SetFlags:
		return fmt.Sprintf("~ change %s: %s", endpointKeyText(s.From), s.Reason)
	case Replace:
		return fmt.Sprintf("-/+ replace %s: %s", endpointKeyText(s.From), s.Reason)
	case SetLimits:
		var parts []string
		if v := s.Limits.Subflows; v != nil {
			parts = append(parts, fmt.Sprintf("subflows %d -> %d", s.LimitsFrom.Subflows, *v))
		}
		if v := s.Limits.AddAddrAccepted; v != nil {
			parts = append(parts, fmt.Sprintf("add_addr_accepted %d -> %d", s.LimitsFrom.AddAddrAccepted, *v))
		}
		return "limits: " + strings.Join(parts, ", ")
	case SetSysctl:
		old := s.OldValue
		if old == "" {
			old = "(unknown)"
		}
		return fmt.Sprintf("sysctl net.mptcp.%s: %s -> %s", s.Sysctl, old, s.Value)
	}
	return fmt.Sprintf("%s (unknown step)", s.Kind)
}

// endpointKeyText names an endpoint the kernel has: address, port, id.
func endpointKeyText(ep mptcp.Endpoint) string {
	var b strings.Builder
	b.WriteString(ep.Addr.String())
	if ep.Port != 0 {
		fmt.Fprintf(&b, " port %d", ep.Port)
	}
	fmt.Fprintf(&b, " id %d", ep.ID)
	return b.String()
}

// endpointText renders an endpoint in iproute2's argument order; id 0 is
// left out (the kernel chooses) when omitZeroID.
func endpointText(ep mptcp.Endpoint, dev string, omitZeroID bool) string {
	var b strings.Builder
	b.WriteString(ep.Addr.String())
	if ep.Port != 0 {
		fmt.Fprintf(&b, " port %d", ep.Port)
	}
	if ep.ID != 0 || !omitZeroID {
		fmt.Fprintf(&b, " id %d", ep.ID)
	}
	if f := ep.Flags.String(); f != "" {
		b.WriteString(" " + f)
	}
	switch {
	case dev != "":
		b.WriteString(" dev " + dev)
	case ep.IfIndex != 0:
		fmt.Fprintf(&b, " ifindex %d", ep.IfIndex)
	}
	return b.String()
}

// String renders a withheld endpoint on one line.
func (w Withheld) String() string {
	var b strings.Builder
	if w.Address.IsValid() {
		b.WriteString(w.Address.String())
		if w.Port != 0 {
			fmt.Fprintf(&b, " port %d", w.Port)
		}
		if w.Dev != "" {
			b.WriteString(" dev " + w.Dev)
		}
	} else {
		b.WriteString("dev " + w.Dev)
	}
	fmt.Fprintf(&b, " (entry %d): %s", w.Entry+1, w.Reason)
	if w.Detail != "" {
		b.WriteString(": " + w.Detail)
	}
	return b.String()
}

// String renders the plan as `mptcpd plan` prints it: one line per step,
// then one per withheld endpoint.
func (p Plan) String() string {
	var b strings.Builder
	for _, s := range p.Steps {
		b.WriteString(s.String() + "\n")
	}
	for _, w := range p.Withheld {
		b.WriteString("withheld " + w.String() + "\n")
	}
	if len(p.Steps) == 0 {
		b.WriteString("no changes\n")
	}
	return b.String()
}

// The JSON forms below are the output of `mptcpd plan -o json`: field
// names are lower_snake and stable.

type endpointJSON struct {
	ID      uint8    `json:"id"`
	Address string   `json:"address"`
	Port    uint16   `json:"port"`
	Flags   []string `json:"flags"`
	IfIndex int32    `json:"ifindex"`
	Dev     string   `json:"dev,omitempty"`
}

func toEndpointJSON(ep mptcp.Endpoint, dev string) *endpointJSON {
	if !ep.Addr.IsValid() {
		return nil
	}
	flags := ep.Flags.Names()
	if flags == nil {
		flags = []string{}
	}
	return &endpointJSON{ID: ep.ID, Address: ep.Addr.String(), Port: ep.Port, Flags: flags, IfIndex: ep.IfIndex, Dev: dev}
}

type limitsJSON struct {
	Subflows        *uint32 `json:"subflows,omitempty"`
	AddAddrAccepted *uint32 `json:"add_addr_accepted,omitempty"`
}

type stepJSON struct {
	Kind       Kind          `json:"kind"`
	Text       string        `json:"text"`
	From       *endpointJSON `json:"from,omitempty"`
	To         *endpointJSON `json:"to,omitempty"`
	Limits     *limitsJSON   `json:"limits,omitempty"`
	LimitsFrom *limitsJSON   `json:"limits_from,omitempty"`
	Sysctl     string        `json:"sysctl,omitempty"`
	Value      *string       `json:"value,omitempty"`
	OldValue   *string       `json:"old_value,omitempty"`
	Reason     string        `json:"reason"`
	Disruptive bool          `json:"disruptive"`
}

// MarshalJSON encodes the step with lower_snake field names; "text" is the
// String form.
func (s Step) MarshalJSON() ([]byte, error) {
	j := stepJSON{Kind: s.Kind, Text: s.String(), Reason: s.Reason, Disruptive: s.Disruptive}
	switch s.Kind {
	case Add, Delete, SetFlags, Replace:
		j.From = toEndpointJSON(s.From, s.FromDev)
		j.To = toEndpointJSON(s.To, s.ToDev)
	case SetLimits:
		j.Limits = &limitsJSON{Subflows: s.Limits.Subflows, AddAddrAccepted: s.Limits.AddAddrAccepted}
		j.LimitsFrom = &limitsJSON{Subflows: &s.LimitsFrom.Subflows, AddAddrAccepted: &s.LimitsFrom.AddAddrAccepted}
	case SetSysctl:
		j.Sysctl, j.Value, j.OldValue = s.Sysctl, &s.Value, &s.OldValue
	}
	return json.Marshal(j)
}

type withheldJSON struct {
	Entry   int    `json:"entry"`
	Address string `json:"address,omitempty"`
	Port    uint16 `json:"port"`
	Dev     string `json:"dev,omitempty"`
	Reason  string `json:"reason"`
	Detail  string `json:"detail,omitempty"`
}

// MarshalJSON encodes the withheld endpoint; entry counts from 1, as
// people number the file's entries.
func (w Withheld) MarshalJSON() ([]byte, error) {
	return json.Marshal(withheldJSON{Entry: w.Entry + 1, Address: addrText(w.Address), Port: w.Port, Dev: w.Dev, Reason: w.Reason, Detail: w.Detail})
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

type planJSON struct {
	Steps           []Step     `json:"steps"`
	Withheld        []Withheld `json:"withheld"`
	EndpointsBefore int        `json:"endpoints_before"`
	EndpointsAfter  int        `json:"endpoints_after"`
	Disruptive      bool       `json:"disruptive"`
}

// MarshalJSON encodes the plan; empty lists are [] rather than null.
func (p Plan) MarshalJSON() ([]byte, error) {
	j := planJSON{Steps: p.Steps, Withheld: p.Withheld, EndpointsBefore: p.EndpointsBefore, EndpointsAfter: p.EndpointsAfter, Disruptive: p.Disruptive()}
	if j.Steps == nil {
		j.Steps = []Step{}
	}
	if j.Withheld == nil {
		j.Withheld = []Withheld{}
	}
	return json.Marshal(j)
}

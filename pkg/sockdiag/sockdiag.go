// Package sockdiag finds the live MPTCP subflows of a network namespace with
// the kernel's socket diagnostics (NETLINK_SOCK_DIAG, inet_diag), so that a
// plan can say how many subflows deleting or replacing an endpoint would
// close.
//
// An MPTCP subflow is an ordinary TCP socket whose upper layer protocol
// (ULP) is "mptcp". The kernel reports a socket's ULP only to a requester
// with CAP_NET_ADMIN over the namespace, and only when the request asks for
// INET_DIAG_INFO.
package sockdiag

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"github.com/mptcpd/mptcpd/pkg/netns"
	"golang.org/x/sys/unix"
)

// State is a TCP state as the kernel numbers it (include/net/tcp_states.h).
type State uint8

// The TCP states.
const (
	StateEstablished State = 1
	StateSynSent     State = 2
	StateSynRecv     State = 3
	StateFinWait1    State = 4
	StateFinWait2    State = 5
	StateTimeWait    State = 6
	StateClose       State = 7
	StateCloseWait   State = 8
	StateLastAck     State = 9
	StateListen      State = 10
	StateClosing     State = 11
	StateNewSynRecv  State = 12
)

var stateNames = [...]string{
	StateEstablished: "established",
	StateSynSent:     "syn-sent",
	StateSynRecv:     "syn-recv",
	StateFinWait1:    "fin-wait-1",
	StateFinWait2:    "fin-wait-2",
	StateTimeWait:    "time-wait",
	StateClose:       "close",
	StateCloseWait:   "close-wait",
	StateLastAck:     "last-ack",
	StateListen:      "listen",
	StateClosing:     "closing",
	StateNewSynRecv:  "new-syn-recv",
}

func (s State) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Live reports whether a subflow in this state carries (or is about to
// carry) a connection that deleting its endpoint would close: every state
// but listening, closed and time-wait.
func (s State) Live() bool {
	return s != StateListen && s != StateClose && s != StateTimeWait
}

// liveStates is the idiag_states mask of the states for which Live is true,
// so the kernel leaves the others out of the dump.
const liveStates = ^uint32(0) &^ (1<<StateListen | 1<<StateClose | 1<<StateTimeWait)

// allStates asks for sockets in every state.
const allStates = ^uint32(0)

// Subflow is one MPTCP subflow: a TCP socket with the "mptcp" ULP.
type Subflow struct {
	// Local and Remote are unmapped: a dual-stack socket's ::ffff:a.b.c.d
	// is reported as a.b.c.d.
	Local  netip.AddrPort
	Remote netip.AddrPort
	State  State
	// IfIndex is the device the socket is bound to, 0 when unbound.
	IfIndex int32
}

// ErrNotPermitted is returned when the caller lacks CAP_NET_ADMIN: the kernel
// would silently hide every socket's ULP and every count would read zero.
var ErrNotPermitted = fmt.Errorf("finding MPTCP subflows needs CAP_NET_ADMIN (the kernel shows a socket's ULP only to it): %w", unix.EPERM)

// Subflows returns the MPTCP subflows of ns in every state, listening ones
// included.
func Subflows(ns netns.NS) ([]Subflow, error) {
	return dump(ns, allStates)
}

// CountSubflows returns, for each local address of ns, how many live MPTCP
// subflows (see State.Live) use it. Addresses without subflows are absent.
func CountSubflows(ns netns.NS) (map[netip.Addr]int, error) {
	subflows, err := dump(ns, liveStates)
	if err != nil {
		return nil, err
	}
	counts := make(map[netip.Addr]int)
	for _, sf := range subflows {
		if sf.State.Live() {
			counts[sf.Local.Addr()]++
		}
	}
	return counts, nil
}

// dump lists the MPTCP subflows of ns whose state is in the states mask
// (bit 1<<State), IPv4 then IPv6.
func dump(ns netns.NS, states uint32) ([]Subflow, error) {
	if err := checkNetAdmin(); err != nil {
		return nil, err
	}
	c, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, &netlink.Config{NetNS: ns.NetlinkFD()})
	if err != nil {
		return nil, fmt.Errorf("dial sock_diag: %w", err)
	}
	defer c.Close()

	var out []Subflow
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		msgs, err := c.Execute(netlink.Message{
			Header: netlink.Header{
				Type:  unix.SOCK_DIAG_BY_FAMILY,
				Flags: netlink.Request | netlink.Dump,
			},
			Data: marshalRequest(family, states),
		})
		if err != nil {
			return nil, fmt.Errorf("dump TCP sockets (%s): %w", familyName(family), err)
		}
		for _, m := range msgs {
			sf, ok, err := parseMessage(m.Data)
			if err != nil {
				return nil, fmt.Errorf("dump TCP sockets (%s): %w", familyName(family), err)
			}
			if ok {
				out = append(out, sf)
			}
		}
	}
	return out, nil
}

// Attribute and extension numbers from linux/inet_diag.h.
const (
	inetDiagInfo    = 2  // INET_DIAG_INFO: tcp_info; asking for it also yields the ULP
	inetDiagULPInfo = 19 // INET_DIAG_ULP_INFO, nested
	ulpInfoName     = 1  // INET_ULP_INFO_NAME, a string inside INET_DIAG_ULP_INFO
)

const (
	sizeofReq     = 56 // struct inet_diag_req_v2
	sizeofSockID  = 48 // struct inet_diag_sockid
	sizeofDiagMsg = 72 // struct inet_diag_msg
)

// marshalRequest encodes a struct inet_diag_req_v2 for a dump of TCP sockets
// of one family in the given states, asking for INET_DIAG_INFO:
//
//	offset size
//	0      1    sdiag_family    AF_INET or AF_INET6
//	1      1    sdiag_protocol  IPPROTO_TCP
//	2      1    idiag_ext       bit (INET_DIAG_INFO-1): tcp_info and the ULP
//	3      1    pad
//	4      4    idiag_states    bit 1<<state per wanted TCP state (host order)
//	8      48   id              struct inet_diag_sockid, all zero for a dump
//
// struct inet_diag_sockid (ports and addresses in network order):
//
//	0  2   idiag_sport
//	2  2   idiag_dport
//	4  16  idiag_src  (IPv4 in the first 4 bytes)
//	20 16  idiag_dst
//	36 4   idiag_if   (host order)
//	40 8   idiag_cookie
func marshalRequest(family uint8, states uint32) []byte {
	b := make([]byte, sizeofReq)
	b[0] = family
	b[1] = unix.IPPROTO_TCP
	b[2] = 1 << (inetDiagInfo - 1)
	binary.NativeEndian.PutUint32(b[4:8], states)
	return b
}

// parseMessage decodes one struct inet_diag_msg and its attributes. It
// reports ok=false for a TCP socket that is not an MPTCP subflow.
//
//	offset size
//	0      1    idiag_family
//	1      1    idiag_state
//	2      1    idiag_timer
//	3      1    idiag_retrans
//	4      48   id (struct inet_diag_sockid, see marshalRequest)
//	52     4    idiag_expires
//	56     4    idiag_rqueue
//	60     4    idiag_wqueue
//	64     4    idiag_uid
//	68     4    idiag_inode
//	72          attributes
func parseMessage(b []byte) (sf Subflow, ok bool, err error) {
	if len(b) < sizeofDiagMsg {
		return Subflow{}, false, fmt.Errorf("inet_diag_msg of %d bytes, want at least %d", len(b), sizeofDiagMsg)
	}
	ulp, err := parseULP(b[sizeofDiagMsg:])
	if err != nil {
		return Subflow{}, false, err
	}
	if ulp != "mptcp" {
		return Subflow{}, false, nil
	}

	family := b[0]
	id := b[4 : 4+sizeofSockID]
	local, err := addrOf(family, id[4:20])
	if err != nil {
		return Subflow{}, false, err
	}
	remote, err := addrOf(family, id[20:36])
	if err != nil {
		return Subflow{}, false, err
	}
	return Subflow{
		Local:   netip.AddrPortFrom(local, binary.BigEndian.Uint16(id[0:2])),
		Remote:  netip.AddrPortFrom(remote, binary.BigEndian.Uint16(id[2:4])),
		State:   State(b[1]),
		IfIndex: int32(binary.NativeEndian.Uint32(id[36:40])),
	}, true, nil
}

// parseULP returns the ULP name from the message's attributes, "" if none.
func parseULP(attrs []byte) (string, error) {
	if len(attrs) == 0 {
		return "", nil
	}
	ad, err := netlink.NewAttributeDecoder(attrs)
	if err != nil {
		return "", fmt.Errorf("inet_diag attributes: %w", err)
	}
	var name string
	for ad.Next() {
		if ad.Type() != inetDiagULPInfo {
			continue
		}
		ad.Nested(func(nad *netlink.AttributeDecoder) error {
			for nad.Next() {
				if nad.Type() == ulpInfoName {
					name = nad.String()
				}
			}
			return nil
		})
	}
	if err := ad.Err(); err != nil {
		return "", fmt.Errorf("inet_diag attributes: %w", err)
	}
	return name, nil
}

func addrOf(family uint8, b []byte) (netip.Addr, error) {
	switch family {
	case unix.AF_INET:
		return netip.AddrFrom4([4]byte(b[:4])), nil
	case unix.AF_INET6:
		return netip.AddrFrom16([16]byte(b[:16])).Unmap(), nil
	default:
		return netip.Addr{}, fmt.Errorf("inet_diag_msg of unexpected family %d", family)
	}
}

func familyName(family uint8) string {
	if family == unix.AF_INET {
		return "IPv4"
	}
	return "IPv6"
}

// checkNetAdmin fails unless the process holds CAP_NET_ADMIN. It cannot
// see whether that capability covers the namespace's owning user namespace;
// it catches the common case of running unprivileged.
func checkNetAdmin() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	if data[unix.CAP_NET_ADMIN/32].Effective&(1<<(unix.CAP_NET_ADMIN%32)) == 0 {
		return ErrNotPermitted
	}
	return nil
}

package netstate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// sizeofIfinfomsg is the fixed header of RTM_*LINK messages: family(1),
// pad(1), type(2), index(4), flags(4), change(4).
const sizeofIfinfomsg = 16

// decodeLink decodes the payload of an RTM_NEWLINK or RTM_DELLINK message.
func decodeLink(b []byte) (Link, error) {
	var m rtnetlink.LinkMessage
	if err := m.UnmarshalBinary(b); err != nil {
		// rtnetlink decodes every attribute, driver-specific ones
		// included, and gives up on any it finds malformed. One odd device
		// must not hide all the others, so fall back to the two fields
		// this package needs.
		return decodeLinkHeader(b, err)
	}
	l := linkFromFlags(int32(m.Index), m.Flags)
	if m.Attributes != nil {
		l.Name = m.Attributes.Name
	}
	return l, nil
}

// decodeLinkHeader reads the index and flags from struct ifinfomsg and the
// name from IFLA_IFNAME, ignoring every other attribute.
func decodeLinkHeader(b []byte, cause error) (Link, error) {
	if len(b) < sizeofIfinfomsg {
		return Link{}, fmt.Errorf("decode link: %w", cause)
	}
	l := linkFromFlags(int32(binary.NativeEndian.Uint32(b[4:8])), binary.NativeEndian.Uint32(b[8:12]))
	ad, err := netlink.NewAttributeDecoder(b[sizeofIfinfomsg:])
	if err != nil {
		return Link{}, fmt.Errorf("decode link %d: %w", l.Index, errors.Join(cause, err))
	}
	for ad.Next() {
		if ad.Type() == unix.IFLA_IFNAME {
			l.Name = ad.String()
		}
	}
	if err := ad.Err(); err != nil {
		return Link{}, fmt.Errorf("decode link %d: %w", l.Index, errors.Join(cause, err))
	}
	return l, nil
}

func linkFromFlags(index int32, flags uint32) Link {
	return Link{
		Index:    index,
		AdminUp:  flags&unix.IFF_UP != 0,
		LowerUp:  flags&unix.IFF_LOWER_UP != 0,
		Loopback: flags&unix.IFF_LOOPBACK != 0,
	}
}

// decodeAddress decodes the payload of an RTM_NEWADDR or RTM_DELADDR
// message. It reports ok=false for families other than IPv4 and IPv6.
func decodeAddress(b []byte) (a Address, ok bool, err error) {
	// Look at the family (ifa_family, the first byte) before decoding:
	// other families' addresses (MCTP, Phonet) are not IP addresses and
	// rtnetlink refuses their lengths.
	if len(b) > 0 && b[0] != unix.AF_INET && b[0] != unix.AF_INET6 {
		return Address{}, false, nil
	}
	var m rtnetlink.AddressMessage
	if err := m.UnmarshalBinary(b); err != nil {
		return Address{}, false, fmt.Errorf("decode address: %w", err)
	}
	if m.Attributes == nil {
		return Address{}, false, fmt.Errorf("decode address on link %d: no attributes", m.Index)
	}
	// IFA_LOCAL is the address of this host; IFA_ADDRESS is the peer's on
	// a point-to-point address and the same as IFA_LOCAL otherwise. IPv6
	// sends IFA_LOCAL only for point-to-point.
	ip := m.Attributes.Local
	if ip == nil {
		ip = m.Attributes.Address
	}
	addr, valid := netip.AddrFromSlice(ip)
	if !valid {
		return Address{}, false, fmt.Errorf("decode address on link %d: no address attribute", m.Index)
	}

	// The header's ifa_flags holds only the low 8 bits. The kernel sends
	// the full set in IFA_FLAGS (a superset of the header's), which wins
	// when present; rtnetlink leaves it 0 when absent, and a kernel that
	// sends it as 0 sends a 0 header too.
	flags := uint32(m.Flags)
	if m.Attributes.Flags != 0 {
		flags = m.Attributes.Flags
	}
	return Address{
		IfIndex:    int32(m.Index),
		Addr:       addr.Unmap(),
		PrefixLen:  m.PrefixLength,
		Scope:      m.Scope,
		Tentative:  flags&unix.IFA_F_TENTATIVE != 0,
		DADFailed:  flags&unix.IFA_F_DADFAILED != 0,
		Deprecated: flags&unix.IFA_F_DEPRECATED != 0,
		Optimistic: flags&unix.IFA_F_OPTIMISTIC != 0,
		// The same bit is IFA_F_SECONDARY for IPv4: an ordinary second
		// address in a subnet, not a privacy address.
		Temporary: m.Family == unix.AF_INET6 && flags&unix.IFA_F_TEMPORARY != 0,
	}, true, nil
}

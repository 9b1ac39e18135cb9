package pm

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
)

// encodeAddr builds the request attributes: one attrAddr nest. withAddr
// includes the family and address (required by ADD; it changes a DEL's or
// GET's meaning, so those send the id alone). Zero id, port, flags and
// ifindex are left out, as iproute2 does.
func encodeAddr(ep mptcp.Endpoint, withAddr bool) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Nested(attrAddr, func(nae *netlink.AttributeEncoder) error {
		encodeAddrFields(nae, ep, withAddr)
		if ep.Flags != 0 {
			nae.Uint32(addrAttrFlags, uint32(ep.Flags))
		}
		if ep.IfIndex != 0 {
			nae.Int32(addrAttrIfIdx, ep.IfIndex)
		}
		return nil
	})
	return ae.Encode()
}

// encodeSetFlags always carries FLAGS, even when zero: a SET_FLAGS without
// it clears backup and fullmesh, but only because the kernel reads a missing
// attribute as 0; sending it says what we mean.
func encodeSetFlags(ep mptcp.Endpoint) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Nested(attrAddr, func(nae *netlink.AttributeEncoder) error {
		encodeAddrFields(nae, ep, ep.Addr.IsValid())
		nae.Uint32(addrAttrFlags, uint32(ep.Flags))
		return nil
	})
	return ae.Encode()
}

func encodeAddrFields(nae *netlink.AttributeEncoder, ep mptcp.Endpoint, withAddr bool) {
	if withAddr {
		addr := ep.Addr.Unmap()
		if addr.Is4() {
			nae.Uint16(addrAttrFamily, unix.AF_INET)
			b := addr.As4()
			nae.Bytes(addrAttrAddr4, b[:])
		} else {
			nae.Uint16(addrAttrFamily, unix.AF_INET6)
			b := addr.As16()
			nae.Bytes(addrAttrAddr6, b[:])
		}
	}
	if ep.ID != 0 {
		nae.Uint8(addrAttrID, ep.ID)
	}
	if ep.Port != 0 {
		nae.Uint16(addrAttrPort, ep.Port)
	}
}

// decodeAddrReply decodes a GET_ADDR reply (one attrAddr nest).
func decodeAddrReply(b []byte) (mptcp.Endpoint, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return mptcp.Endpoint{}, err
	}
	var ep mptcp.Endpoint
	found := false
	for ad.Next() {
		if ad.Type() != attrAddr {
			continue
		}
		found = true
		ad.Nested(func(nad *netlink.AttributeDecoder) error {
			ep, err = decodeAddrFields(nad)
			return err
		})
	}
	if err := ad.Err(); err != nil {
		return mptcp.Endpoint{}, fmt.Errorf("decode endpoint: %w", err)
	}
	if !found {
		return mptcp.Endpoint{}, errors.New("decode endpoint: reply has no address attribute")
	}
	return ep, nil
}

func decodeAddrFields(nad *netlink.AttributeDecoder) (mptcp.Endpoint, error) {
	var ep mptcp.Endpoint
	var family uint16
	for nad.Next() {
		switch nad.Type() {
		case addrAttrFamily:
			family = nad.Uint16()
		case addrAttrID:
			ep.ID = nad.Uint8()
		case addrAttrAddr4, addrAttrAddr6:
			addr, ok := netip.AddrFromSlice(nad.Bytes())
			if !ok {
				return ep, fmt.Errorf("bad address attribute of %d bytes", nad.Len())
			}
			ep.Addr = addr.Unmap()
		case addrAttrPort:
			ep.Port = nad.Uint16()
		case addrAttrFlags:
			ep.Flags = mptcp.Flags(nad.Uint32())
		case addrAttrIfIdx:
			ep.IfIndex = nad.Int32()
		}
	}
	if err := nad.Err(); err != nil {
		return ep, err
	}
	if family != unix.AF_INET && family != unix.AF_INET6 {
		return ep, fmt.Errorf("endpoint id %d has address family %d", ep.ID, family)
	}
	if !ep.Addr.IsValid() {
		return ep, fmt.Errorf("endpoint id %d has no address", ep.ID)
	}
	return ep, nil
}

func decodeLimits(b []byte) (mptcp.Limits, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return mptcp.Limits{}, err
	}
	var l mptcp.Limits
	for ad.Next() {
		switch ad.Type() {
		case attrRcvAddAddrs:
			l.AddAddrAccepted = ad.Uint32()
		case attrSubflows:
			l.Subflows = ad.Uint32()
		}
	}
	if err := ad.Err(); err != nil {
		return mptcp.Limits{}, fmt.Errorf("decode limits: %w", err)
	}
	return l, nil
}

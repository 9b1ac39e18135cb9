package config

import (
	"net/netip"

	"github.com/mptcpd/mptcpd/pkg/mptcp"
)

// DefaultPath is where mptcpd looks for its file unless told otherwise.
const DefaultPath = "/etc/mptcpd.yaml"

// Ownership says which kernel endpoints mptcpd may remove.
type Ownership string

const (
	// Exclusive: the file describes every endpoint of the namespace; any
	// other is removed (kernel-made implicit ones only when a slot is
	// needed).
	Exclusive Ownership = "exclusive"
	// Shared: only endpoints mptcpd itself created are touched, so that it
	// can run beside another manager such as NetworkManager.
	Shared Ownership = "shared"
)

// Family selects the addresses an interface entry expands to.
type Family string

const (
	FamilyAny  Family = "any"
	FamilyIPv4 Family = "ipv4"
	FamilyIPv6 Family = "ipv6"
)

// Position is where something stands in the file (1-based).
type Position struct {
	Line, Column int
}

// Config is a validated configuration file.
type Config struct {
	// Path is the file it was read from (for messages).
	Path string
	// Version is the format version; 1 (the only one) when absent.
	Version int
	// Limits is nil when the file has no limits section: the kernel's
	// limits are then left alone. Either field may be nil likewise.
	Limits *mptcp.LimitsUpdate
	// ManageEndpoints is false when the file has no endpoints section: the
	// kernel's endpoints are then left alone. `endpoints: []` sets it with
	// no entries.
	ManageEndpoints bool
	// Endpoints in file order; the order decides who gets a slot when more
	// are usable than the kernel's 8 fit.
	Endpoints []Entry
	// Sysctls to set in the namespace, in file order.
	Sysctls []Sysctl
	// Ownership is Exclusive unless the file says otherwise.
	Ownership Ownership
}

// Entry is one item of the endpoints list: either a fixed address or an
// interface whose usable addresses each become an endpoint.
type Entry struct {
	Pos Position

	// Fixed entries: Address is valid (unmapped, unicast).
	Address netip.Addr
	// Dev binds the endpoint to a device; resolved to an ifindex at every
	// reconcile. Empty means not bound (fixed entries only).
	Dev string
	// ID is the wanted endpoint id, 1..255, or 0 for "kernel chooses"
	// (fixed entries only).
	ID uint8
	// Port is the listener port of a signal-only endpoint, or 0.
	Port uint16

	// Interface entries: Interface is the device name; Address is invalid.
	Interface string
	Family    Family
	// Opt-ins for addresses interface entries leave out by default.
	IncludeLinkLocal bool
	IncludeULA       bool
	IncludeTemporary bool

	// Flags of every endpoint this entry makes (never FlagImplicit).
	Flags mptcp.Flags
}

// IsInterface reports whether the entry expands an interface's addresses.
func (e Entry) IsInterface() bool { return e.Interface != "" }

// Sysctl is one net.mptcp.* setting. Name has no "net.mptcp." prefix
// ("enabled", "path_manager"); Value is what /proc/sys takes.
type Sysctl struct {
	Pos   Position
	Name  string
	Value string
}

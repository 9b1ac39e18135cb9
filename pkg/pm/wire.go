package pm

// Constants of the mptcp_pm generic netlink family (include/uapi/linux/mptcp_pm.h).
const (
	familyName    = "mptcp_pm"
	familyVersion = 1
	eventsGroup   = "mptcp_pm_events"
)

// Commands.
const (
	cmdAddAddr    = 1
	cmdDelAddr    = 2
	cmdGetAddr    = 3
	cmdFlushAddrs = 4
	cmdSetLimits  = 5
	cmdGetLimits  = 6
	cmdSetFlags   = 7
)

// Top-level attributes of requests and replies (MPTCP_PM_ATTR_*).
const (
	attrAddr        = 1
	attrRcvAddAddrs = 2
	attrSubflows    = 3
)

// Attributes nested in attrAddr (MPTCP_PM_ADDR_ATTR_*).
const (
	addrAttrFamily = 1
	addrAttrID     = 2
	addrAttrAddr4  = 3
	addrAttrAddr6  = 4
	addrAttrPort   = 5 // host byte order, unlike event ports
	addrAttrFlags  = 6
	addrAttrIfIdx  = 7
)

// Event attributes (MPTCP_ATTR_*).
const (
	evAttrToken       = 1
	evAttrFamily      = 2
	evAttrLocID       = 3
	evAttrRemID       = 4
	evAttrSaddr4      = 5
	evAttrSaddr6      = 6
	evAttrDaddr4      = 7
	evAttrDaddr6      = 8
	evAttrSport       = 9  // big endian
	evAttrDport       = 10 // big endian
	evAttrBackup      = 11
	evAttrError       = 12
	evAttrFlags       = 13
	evAttrTimeout     = 14
	evAttrIfIdx       = 15
	evAttrResetReason = 16
	evAttrResetFlags  = 17
	evAttrServerSide  = 18
)

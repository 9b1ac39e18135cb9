package control

import (
	"net/netip"
	"time"
)

// Status is what `mptcpd status` shows: the daemon, its last run, the config
// in force and the state of every desired endpoint. The daemon fills it; the
// JSON field names are part of the `mptcpd status -o json` interface and
// only ever grow.
type Status struct {
	Daemon Daemon `json:"daemon"`
	// LastRun is nil before the first reconcile has finished.
	LastRun *Run `json:"last_run,omitempty"`
	// Config is the file in force; nil until one has been loaded.
	Config *Config `json:"config,omitempty"`
	// Rejected is the last file that failed to load, set only while it is
	// newer than the one in force (a later good load clears it).
	Rejected *RejectedConfig `json:"rejected_config,omitempty"`
	// Endpoints are the desired endpoints in file order (an interface entry
	// contributes one per usable address).
	Endpoints []Endpoint `json:"endpoints"`
	// Limits and Sysctls are the ones the file manages.
	Limits  []Limit  `json:"limits"`
	Sysctls []Sysctl `json:"sysctls"`
	// Fights are the kernel objects someone else keeps changing back.
	Fights []Fight `json:"fights"`
}

// Daemon identifies the running process.
type Daemon struct {
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	Version   string    `json:"version"`
	// Runs counts the reconcile runs since start (most change nothing).
	Runs int64 `json:"runs"`
}

// Run results.
const (
	RunOK    = "ok"
	RunError = "error"
)

// Run describes one reconcile.
type Run struct {
	StartedAt time.Time     `json:"started_at"`
	Duration  time.Duration `json:"duration_ns"`
	// Result is RunOK or RunError.
	Result string `json:"result"`
	// Changes is the number of changes made to the kernel.
	Changes int `json:"changes"`
	// Reasons are the triggers that this run served, e.g. "startup",
	// "config changed", "SIGHUP", "link eth1 up", "drift check".
	Reasons []string `json:"reasons"`
	// Errors are the failures of this run, with the kernel's own message.
	Errors []string `json:"errors"`
}

// Config is a config file that was loaded and is in force.
type Config struct {
	Path string `json:"path"`
	// SHA256 is the hex digest of the file's bytes as loaded.
	SHA256   string    `json:"sha256"`
	LoadedAt time.Time `json:"loaded_at"`
}

// RejectedConfig is a config file that failed to load.
type RejectedConfig struct {
	Path       string    `json:"path"`
	SHA256     string    `json:"sha256"`
	RejectedAt time.Time `json:"rejected_at"`
	// Errors are FILE:LINE:COL: MESSAGE lines.
	Errors []string `json:"errors"`
}

// Endpoint states.
const (
	Installed = "installed"
	Withheld  = "withheld"
)

// Endpoint is one desired endpoint and what became of it.
type Endpoint struct {
	Address netip.Addr `json:"address"`
	Port    uint16     `json:"port,omitempty"`
	// Dev is the device the endpoint is bound to, if any.
	Dev string `json:"dev,omitempty"`
	// Interface is the interface entry this endpoint was expanded from.
	Interface string `json:"interface,omitempty"`
	// Flags are flag names as the config file spells them.
	Flags []string `json:"flags"`
	// State is Installed or Withheld.
	State string `json:"state"`
	// ID is the kernel's endpoint id while installed.
	ID uint8 `json:"id,omitempty"`
	// Reason says why a withheld endpoint is not installed.
	Reason string `json:"reason,omitempty"`
}

// Limit is one MPTCP limit that the file sets.
type Limit struct {
	// Name is the config key: "subflows" or "add_addr_accepted".
	Name    string `json:"name"`
	Desired uint32 `json:"desired"`
	// Actual is what the kernel reported at the end of the last run.
	Actual uint32 `json:"actual"`
}

// Sysctl is one net.mptcp sysctl that the file sets.
type Sysctl struct {
	// Name is the full name, e.g. "net.mptcp.enabled".
	Name    string `json:"name"`
	Desired string `json:"desired"`
	// Actual is the value read at the end of the last run.
	Actual string `json:"actual"`
}

// Fight is an object that someone else keeps changing back.
type Fight struct {
	// Key names the object, e.g. "endpoint 192.0.2.10" or "limits".
	Key string `json:"key"`
	// Count is how many times mptcpd found its change undone.
	Count int `json:"count"`
	// Culprit is a guess at the other manager, e.g. "NetworkManager".
	Culprit string `json:"culprit,omitempty"`
	// BackoffUntil is when mptcpd will touch the object again; zero when
	// it is not backing off.
	BackoffUntil time.Time `json:"backoff_until,omitzero"`
}

// withEmptyLists makes absent lists encode as [] rather than null, so that
// scripts can iterate over them without a null check.
func (s Status) withEmptyLists() Status {
	// A copy, so that the caller's slices are never written to.
	eps := make([]Endpoint, len(s.Endpoints))
	copy(eps, s.Endpoints)
	for i := range eps {
		if eps[i].Flags == nil {
			eps[i].Flags = []string{}
		}
	}
	s.Endpoints = eps
	if s.Limits == nil {
		s.Limits = []Limit{}
	}
	if s.Sysctls == nil {
		s.Sysctls = []Sysctl{}
	}
	if s.Fights == nil {
		s.Fights = []Fight{}
	}
	if s.LastRun != nil {
		r := *s.LastRun
		if r.Reasons == nil {
			r.Reasons = []string{}
		}
		if r.Errors == nil {
			r.Errors = []string{}
		}
		s.LastRun = &r
	}
	if s.Rejected != nil && s.Rejected.Errors == nil {
		r := *s.Rejected
		r.Errors = []string{}
		s.Rejected = &r
	}
	return s
}

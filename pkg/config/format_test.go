package config

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
)

func TestFormatCanonical(t *testing.T) {
	cfg := &Config{
		Limits:          &mptcp.LimitsUpdate{Subflows: u32(2)},
		ManageEndpoints: true,
		Endpoints: []Entry{
			{Address: netip.MustParseAddr("::ffff:192.0.2.10"), Dev: "eth1", ID: 10, Flags: mptcp.FlagSubflow | mptcp.FlagBackup},
			{Address: netip.MustParseAddr("2001:db8::10"), Port: 20000, Flags: mptcp.FlagSignal},
			{Interface: "wlan0", Flags: mptcp.FlagSubflow},
			{Interface: "1", Family: FamilyIPv6, IncludeLinkLocal: true, IncludeTemporary: true},
		},
		Sysctls: []Sysctl{{Name: "enabled", Value: "1"}, {Name: "path_manager", Value: "kernel"}},
	}
	want := `version: 1
limits:
  subflows: 2
endpoints:
  - address: 192.0.2.10
    dev: eth1
    id: 10
    flags: [subflow, backup]
  - address: 2001:db8::10
    port: 20000
    flags: [signal]
  - interface: wlan0
    flags: [subflow]
  - interface: "1"
    family: ipv6
    link_local: true
    temporary: true
    flags: []
sysctl:
  enabled: 1
  path_manager: kernel
ownership: exclusive
`
	got, err := Format(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("Format (-want +got):\n%s", diff)
	}
}

func TestFormatEmptySections(t *testing.T) {
	tests := []struct {
		name string
		cfg  *Config
		want string
	}{
		{"nothing managed", &Config{}, "version: 1\nownership: exclusive\n"},
		{"no endpoints", &Config{ManageEndpoints: true, Ownership: Shared}, "version: 1\nendpoints: []\nownership: shared\n"},
		{"empty limits", &Config{Limits: &mptcp.LimitsUpdate{}}, "version: 1\nlimits: {}\nownership: exclusive\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Format(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("Format (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormatRefusesWhatNoFileCanSay(t *testing.T) {
	addr := netip.MustParseAddr("192.0.2.1")
	tests := []struct {
		name string
		cfg  *Config
		want string
	}{
		{"nil", nil, "no config"},
		{"implicit flag", &Config{ManageEndpoints: true, Endpoints: []Entry{{Address: addr, Flags: mptcp.FlagImplicit | mptcp.FlagSubflow}}}, "implicit"},
		{"unknown flag bit", &Config{ManageEndpoints: true, Endpoints: []Entry{{Address: addr, Flags: 0x100}}}, "rawflags"},
		{"endpoints not managed", &Config{Endpoints: []Entry{{Address: addr}}}, "ManageEndpoints is false"},
		{"interface entry with an id", &Config{ManageEndpoints: true, Endpoints: []Entry{{Interface: "eth0", ID: 3}}}, "also sets ID"},
		{"limit above 8", &Config{Limits: &mptcp.LimitsUpdate{Subflows: u32(9)}}, "subflows must be an integer 0..8"},
		{"bad sysctl value", &Config{Sysctls: []Sysctl{{Name: "enabled", Value: "yes"}}}, "net.mptcp.enabled"},
		{"unknown sysctl", &Config{Sysctls: []Sysctl{{Name: "nope", Value: "1"}}}, "unknown sysctl"},
		{"signal with fullmesh", &Config{ManageEndpoints: true, Endpoints: []Entry{{Address: addr, Flags: mptcp.FlagSignal | mptcp.FlagFullmesh}}}, "fullmesh cannot be combined"},
		{"duplicate address", &Config{ManageEndpoints: true, Endpoints: []Entry{{Address: addr}, {Address: addr}}}, "EEXIST"},
		{"version 2", &Config{Version: 2}, "version 2 is not supported"},
		{"multicast address", &Config{ManageEndpoints: true, Endpoints: []Entry{{Address: netip.MustParseAddr("224.0.0.1")}}}, "multicast"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Format(tt.cfg)
			if err == nil {
				t.Fatalf("Format succeeded:\n%s", out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Format error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// roundTrip checks that Format's output parses back to a config Equal to
// cfg (after the defaults Format fills in) and that formatting is stable.
func roundTrip(t *testing.T, cfg *Config) {
	t.Helper()
	out, err := Format(cfg)
	if err != nil {
		t.Fatalf("Format: %v\nconfig: %+v", err, cfg)
	}
	back, err := Parse("formatted.yaml", out)
	if err != nil {
		t.Fatalf("Parse(Format(cfg)): %v\n%s", err, out)
	}
	if diff := cmp.Diff(canonical(cfg), back, configOpts, cmpIgnorePath); diff != "" {
		t.Fatalf("round trip changed the config (-want +got):\n%s\nformatted:\n%s", diff, out)
	}
	again, err := Format(back)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(out) {
		t.Fatalf("Format is not stable:\n%s\nthen:\n%s", out, again)
	}
}

var cmpIgnorePath = cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Path" }, cmp.Ignore())

func TestFormatRoundTripFiles(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, cfg)
		})
	}
}

// TestFormatRoundTripRandom is the property test: for many random valid
// configs, Parse(Format(cfg)) equals cfg.
func TestFormatRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		roundTrip(t, randomConfig(rng))
	}
}

// Names and addresses chosen to stress quoting: YAML would read several of
// them as numbers, booleans, nulls or syntax if written plainly.
var (
	randomIfNames = []string{"eth0", "wlan0", "1", "0x10", "true", "null", "~", "-", "#x", "a#b", "&x", "*x", "!x", "[x", "{x", "x]", "x,y", "'q", "\"q", "@x", "`x", "|", ">", "?x", "é", "x=y", ".inf", "1e3", "y", "no", "eth0.100", "veth-ab_C"}
	randomAddrs   = []string{"192.0.2.1", "192.0.2.2", "198.51.100.7", "::ffff:198.51.100.8", "2001:db8::1", "2001:db8::2", "fe80::1", "::1", "127.0.0.1", "fd00::5", "203.0.113.255", "10.0.0.1"}
)

func randomConfig(rng *rand.Rand) *Config {
	pick := func(words []string) string { return words[rng.IntN(len(words))] }
	cfg := &Config{}
	if rng.IntN(2) == 0 {
		cfg.Version = 1
	}
	cfg.Ownership = Ownership(pick([]string{"", string(Exclusive), string(Shared)}))
	if rng.IntN(2) == 0 {
		cfg.Limits = &mptcp.LimitsUpdate{}
		if rng.IntN(3) > 0 {
			cfg.Limits.Subflows = u32(rng.Uint32N(mptcp.MaxLimit + 1))
		}
		if rng.IntN(3) > 0 {
			cfg.Limits.AddAddrAccepted = u32(rng.Uint32N(mptcp.MaxLimit + 1))
		}
	}
	if rng.IntN(3) > 0 {
		cfg.ManageEndpoints = true
		usedAddr := map[netip.Addr]bool{}
		usedID := map[uint8]bool{}
		fixed := 0
		for range rng.IntN(12) {
			e := Entry{Flags: mptcp.Flags(rng.Uint32N(64)) & requestableFlags}
			if e.Flags.Has(mptcp.FlagSignal) {
				e.Flags &^= mptcp.FlagFullmesh
			}
			if rng.IntN(2) == 0 {
				e.Interface = pick(randomIfNames)
				e.Family = Family(pick([]string{"", string(FamilyAny), string(FamilyIPv4), string(FamilyIPv6)}))
				e.IncludeLinkLocal = rng.IntN(2) == 0
				e.IncludeULA = rng.IntN(2) == 0
				e.IncludeTemporary = rng.IntN(2) == 0
			} else {
				a := netip.MustParseAddr(pick(randomAddrs))
				if fixed == mptcp.MaxEndpoints || usedAddr[a.Unmap()] {
					continue
				}
				fixed++
				usedAddr[a.Unmap()] = true
				e.Address = a
				if rng.IntN(2) == 0 {
					e.Dev = pick(randomIfNames)
				}
				if id := uint8(rng.IntN(256)); !usedID[id] {
					usedID[id] = id != 0
					e.ID = id
				}
				if e.Flags&(mptcp.FlagSignal|mptcp.FlagSubflow) == mptcp.FlagSignal && rng.IntN(2) == 0 {
					e.Port = uint16(1 + rng.IntN(65535))
				}
			}
			cfg.Endpoints = append(cfg.Endpoints, e)
		}
	}
	rules := rng.Perm(len(sysctlRules))
	for _, i := range rules[:rng.IntN(len(rules))] {
		r := sysctlRules[i]
		if r.name == "pm_type" && hasSysctl(cfg, "path_manager") || r.name == "path_manager" && hasSysctl(cfg, "pm_type") {
			continue
		}
		cfg.Sysctls = append(cfg.Sysctls, Sysctl{Name: r.name, Value: randomSysctlValue(rng, r.name)})
	}
	return cfg
}

func hasSysctl(cfg *Config, name string) bool {
	for _, s := range cfg.Sysctls {
		if s.Name == name {
			return true
		}
	}
	return false
}

func randomSysctlValue(rng *rand.Rand, name string) string {
	switch name {
	case "enabled", "checksum_enabled", "allow_join_initial_addr_port", "pm_type":
		return fmt.Sprint(rng.IntN(2))
	case "path_manager":
		return []string{"kernel", "userspace"}[rng.IntN(2)]
	case "scheduler":
		return []string{"default", "redundant", "rr_2", "123", "0x1", "y", "null"}[rng.IntN(7)]
	case "stale_loss_cnt":
		return fmt.Sprint(1 + rng.Uint32N(1<<32-1))
	case "syn_retrans_before_tcp_fallback":
		return fmt.Sprint(rng.IntN(256))
	}
	return fmt.Sprint(rng.IntN(maxSeconds + 1))
}

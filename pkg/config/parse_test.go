package config

import (
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mptcpd/mptcpd/pkg/mptcp"
)

var update = flag.Bool("update", false, "rewrite testdata/bad/*.err and the generated part of docs/config.md from the current messages")

func u32(v uint32) *uint32 { return &v }

// configOpts compare Configs as Equal does, so that cmp.Diff shows what
// differs: positions apart, nil and empty lists alike.
var configOpts = cmp.Options{
	cmpopts.EquateEmpty(),
	cmpopts.IgnoreFields(Entry{}, "Pos"),
	cmpopts.IgnoreFields(Sysctl{}, "Pos"),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
}

func TestParseGood(t *testing.T) {
	base := func(mod func(c *Config)) *Config {
		c := &Config{Path: "test.yaml", Version: 1, Ownership: Exclusive}
		if mod != nil {
			mod(c)
		}
		return c
	}
	tests := []struct {
		name string
		in   string
		want *Config
	}{
		{name: "empty file", in: "", want: base(nil)},
		{name: "only comments", in: "# nothing here\n\n# yet\n", want: base(nil)},
		{name: "empty document", in: "---\n", want: base(nil)},
		{name: "version 1", in: "version: 1\n", want: base(nil)},
		{
			name: "limits, both",
			in:   "limits:\n  subflows: 2\n  add_addr_accepted: 8\n",
			want: base(func(c *Config) { c.Limits = &mptcp.LimitsUpdate{Subflows: u32(2), AddAddrAccepted: u32(8)} }),
		},
		{
			name: "limits, one of them, zero",
			in:   "limits: {add_addr_accepted: 0}\n",
			want: base(func(c *Config) { c.Limits = &mptcp.LimitsUpdate{AddAddrAccepted: u32(0)} }),
		},
		{
			name: "empty limits mapping is managed but changes nothing",
			in:   "limits: {}\n",
			want: base(func(c *Config) { c.Limits = &mptcp.LimitsUpdate{} }),
		},
		{
			name: "empty endpoints list manages endpoints: none",
			in:   "endpoints: []\n",
			want: base(func(c *Config) { c.ManageEndpoints = true }),
		},
		{
			name: "fixed entries",
			in: `endpoints:
  - address: 192.0.2.10
    dev: eth1
    id: 10
    flags: [subflow, backup]
  - address: 2001:db8::10
    port: 20000
    flags: [signal]
  - address: ::ffff:198.51.100.7
    flags: [subflow, fullmesh, laminar]
  - address: fe80::1
    dev: eth0
  - address: 203.0.113.1
    flags: []
`,
			want: base(func(c *Config) {
				c.ManageEndpoints = true
				c.Endpoints = []Entry{
					{Address: netip.MustParseAddr("192.0.2.10"), Dev: "eth1", ID: 10, Flags: mptcp.FlagSubflow | mptcp.FlagBackup},
					{Address: netip.MustParseAddr("2001:db8::10"), Port: 20000, Flags: mptcp.FlagSignal},
					{Address: netip.MustParseAddr("198.51.100.7"), Flags: mptcp.FlagSubflow | mptcp.FlagFullmesh | mptcp.FlagLaminar},
					{Address: netip.MustParseAddr("fe80::1"), Dev: "eth0"},
					{Address: netip.MustParseAddr("203.0.113.1")},
				}
			}),
		},
		{
			name: "same address with different ports is two endpoints",
			in: `endpoints:
  - address: 192.0.2.10
    flags: [subflow]
  - address: 192.0.2.10
    port: 443
    flags: [signal]
  - address: ::ffff:192.0.2.10
    port: 8443
    flags: [signal, backup]
`,
			want: base(func(c *Config) {
				c.ManageEndpoints = true
				a := netip.MustParseAddr("192.0.2.10")
				c.Endpoints = []Entry{
					{Address: a, Flags: mptcp.FlagSubflow},
					{Address: a, Port: 443, Flags: mptcp.FlagSignal},
					{Address: a, Port: 8443, Flags: mptcp.FlagSignal | mptcp.FlagBackup},
				}
			}),
		},
		{
			name: "interface entries and their defaults",
			in: `endpoints:
  - interface: wlan0
    flags: [subflow]
  - interface: eth0
    family: ipv6
    link_local: true
    ula: true
    temporary: false
    flags: [signal]
  - interface: enx0123456789ab
    family: ipv4
    temporary: true
`,
			want: base(func(c *Config) {
				c.ManageEndpoints = true
				c.Endpoints = []Entry{
					{Interface: "wlan0", Family: FamilyAny, Flags: mptcp.FlagSubflow},
					{Interface: "eth0", Family: FamilyIPv6, IncludeLinkLocal: true, IncludeULA: true, Flags: mptcp.FlagSignal},
					{Interface: "enx0123456789ab", Family: FamilyIPv4, IncludeTemporary: true},
				}
			}),
		},
		{
			name: "eight fixed entries fit, interface entries are not counted",
			in: `endpoints:
  - {address: 192.0.2.1}
  - {address: 192.0.2.2}
  - {address: 192.0.2.3}
  - {address: 192.0.2.4}
  - {interface: eth0}
  - {address: 192.0.2.5}
  - {address: 192.0.2.6}
  - {address: 192.0.2.7}
  - {address: 192.0.2.8}
  - {interface: eth1}
`,
			want: base(func(c *Config) {
				c.ManageEndpoints = true
				for i := 1; i <= 8; i++ {
					c.Endpoints = append(c.Endpoints, Entry{Address: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})})
					if i == 4 {
						c.Endpoints = append(c.Endpoints, Entry{Interface: "eth0", Family: FamilyAny})
					}
				}
				c.Endpoints = append(c.Endpoints, Entry{Interface: "eth1", Family: FamilyAny})
			}),
		},
		{
			name: "sysctls: types, bools, prefix, bounds, file order",
			in: `sysctl:
  net.mptcp.enabled: true
  checksum_enabled: false
  allow_join_initial_addr_port: 0
  add_addr_timeout: 0
  close_timeout: 2147483
  blackhole_timeout: 3600
  stale_loss_cnt: 4294967295
  syn_retrans_before_tcp_fallback: 255
  scheduler: default
  path_manager: userspace
`,
			want: base(func(c *Config) {
				c.Sysctls = []Sysctl{
					{Name: "enabled", Value: "1"},
					{Name: "checksum_enabled", Value: "0"},
					{Name: "allow_join_initial_addr_port", Value: "0"},
					{Name: "add_addr_timeout", Value: "0"},
					{Name: "close_timeout", Value: "2147483"},
					{Name: "blackhole_timeout", Value: "3600"},
					{Name: "stale_loss_cnt", Value: "4294967295"},
					{Name: "syn_retrans_before_tcp_fallback", Value: "255"},
					{Name: "scheduler", Value: "default"},
					{Name: "path_manager", Value: "userspace"},
				}
			}),
		},
		{
			name: "pm_type alone",
			in:   "sysctl: {pm_type: 1}\n",
			want: base(func(c *Config) { c.Sysctls = []Sysctl{{Name: "pm_type", Value: "1"}} }),
		},
		{
			name: "shared ownership",
			in:   "ownership: shared\n",
			want: base(func(c *Config) { c.Ownership = Shared }),
		},
		{
			name: "explicit string tag and CRLF line ends",
			in:   "endpoints:\r\n  - interface: !!str 1\r\nownership: exclusive\r\n",
			want: base(func(c *Config) {
				c.ManageEndpoints = true
				c.Endpoints = []Entry{{Interface: "1", Family: FamilyAny}}
			}),
		},
		{
			name: "anchors without aliases are harmless",
			in:   "endpoints:\n  - &uplink\n    address: 192.0.2.1\n",
			want: base(func(c *Config) {
				c.ManageEndpoints = true
				c.Endpoints = []Entry{{Address: netip.MustParseAddr("192.0.2.1")}}
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("test.yaml", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, configOpts); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParsePositions(t *testing.T) {
	in := "endpoints:\n  - address: 192.0.2.1\n  -   interface: eth0\nsysctl:\n    enabled: 1\n"
	got, err := Parse("test.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var gotPos []Position
	for _, e := range got.Endpoints {
		gotPos = append(gotPos, e.Pos)
	}
	for _, s := range got.Sysctls {
		gotPos = append(gotPos, s.Pos)
	}
	want := []Position{{2, 5}, {3, 7}, {5, 5}}
	if diff := cmp.Diff(want, gotPos); diff != "" {
		t.Errorf("positions (-want +got):\n%s", diff)
	}
}

// TestBadFiles parses every file under testdata/bad and compares the
// error output with the .err file beside it, line for line.
func TestBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 45 {
		t.Fatalf("found %d bad files, want at least 45", len(files))
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := Parse(name, data)
			if err == nil {
				t.Fatalf("Parse accepted a bad file: %+v", cfg)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse error is %T, want Errors", err)
			}
			for _, e := range errs {
				if e.File != name || e.Line < 1 || e.Column < 1 {
					t.Errorf("error without a proper position: %#v", e)
				}
			}
			got := err.Error() + "\n"
			errPath := strings.TrimSuffix(path, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(errPath, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(errPath)
			if err != nil {
				t.Fatalf("expected output: %v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("errors of %s (-want +got):\n%s", name, diff)
			}
		})
	}
}

func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"minimal.yaml", "server.yaml", "laptop.yaml", "shared.yaml", "demo.yaml"} {
		if _, err := os.Stat(filepath.Join("../../examples", want)); err != nil {
			t.Errorf("example missing: %v", err)
		}
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, err := Load(path)
			if err != nil {
				t.Fatalf("example does not load:\n%v", err)
			}
			if !cfg.ManageEndpoints || len(cfg.Endpoints) == 0 {
				t.Errorf("example manages no endpoints; examples are there to show some")
			}
		})
	}
}

// TestDemoExample holds the demo file to its promise: only demo0 and demo1,
// only documentation addresses, and the features the walkthrough shows.
func TestDemoExample(t *testing.T) {
	cfg, err := Load("../../examples/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docNets := []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("2001:db8::/32"),
	}
	var fixedSubflowWithDevAndID, signal, iface bool
	for _, e := range cfg.Endpoints {
		dev := e.Dev
		if e.IsInterface() {
			dev, iface = e.Interface, true
		}
		if dev != "demo0" && dev != "demo1" {
			t.Errorf("entry at line %d uses device %q, want demo0 or demo1 only", e.Pos.Line, dev)
		}
		if e.Address.IsValid() {
			inDoc := false
			for _, p := range docNets {
				inDoc = inDoc || p.Contains(e.Address)
			}
			if !inDoc {
				t.Errorf("entry at line %d uses %s, not a documentation address", e.Pos.Line, e.Address)
			}
		}
		if !e.IsInterface() && e.Flags.Has(mptcp.FlagSubflow) && e.Dev != "" && e.ID != 0 {
			fixedSubflowWithDevAndID = true
		}
		if e.Flags.Has(mptcp.FlagSignal) {
			signal = true
		}
	}
	if !fixedSubflowWithDevAndID || !signal || !iface || cfg.Limits == nil {
		t.Errorf("demo lacks a feature: fixed subflow with dev and id %v, signal %v, interface entry %v, limits %v",
			fixedSubflowWithDevAndID, signal, iface, cfg.Limits != nil)
	}
	if diff := cmp.Diff([]Sysctl{{Name: "enabled", Value: "1"}}, cfg.Sysctls, configOpts); diff != "" {
		t.Errorf("demo sysctls (-want +got):\n%s", diff)
	}
}

func TestErrorsFormat(t *testing.T) {
	errs := sortErrors(Errors{
		{File: "f.yaml", Line: 3, Column: 1, Msg: "c"},
		{File: "f.yaml", Line: 1, Column: 9, Msg: "b"},
		{File: "f.yaml", Line: 1, Column: 2, Msg: "a"},
		{File: "f.yaml", Line: 3, Column: 1, Msg: "c"},
	})
	want := "f.yaml:1:2: a\nf.yaml:1:9: b\nf.yaml:3:1: c"
	if got := errs.Error(); got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
	var one *Error
	if !errors.As(error(errs), &one) || one.Msg != "a" {
		t.Errorf("errors.As(Errors, *Error) = %v, want the first problem", one)
	}
}

func TestNearest(t *testing.T) {
	known := []string{"subflows", "add_addr_accepted", "address", "dev", "signal", "interface"}
	tests := []struct{ in, want string }{
		{"subflow", "subflows"},
		{"singal", "signal"},
		{"adress", "address"},
		{"addr", "address"},
		{"device", "dev"},
		{"Add-Addr-Accepted", "add_addr_accepted"},
		{"interfaces", "interface"},
		{"logging", ""},
		{"x", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := nearest(tt.in, known); got != tt.want {
			t.Errorf("nearest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCheckIfName(t *testing.T) {
	valid := []string{"eth0", "a", "enx0123456789ab", "wlp0s20f3", "br-lan", "eth0.100", "vlan@x", "ünï"}
	for _, name := range valid {
		if why := checkIfName(name); why != "" {
			t.Errorf("checkIfName(%q) = %q, want valid", name, why)
		}
	}
	invalid := []string{"", ".", "..", "eth/0", "eth 0", "eth0:1", "eth%d", "0123456789abcdef", "a\tb", "a\x01", "a\u00a0b"}
	for _, name := range invalid {
		if checkIfName(name) == "" {
			t.Errorf("checkIfName(%q) accepted an invalid name", name)
		}
	}
}

func TestFlagNames(t *testing.T) {
	want := []string{"signal", "subflow", "backup", "fullmesh", "laminar"}
	if diff := cmp.Diff(want, FlagNames()); diff != "" {
		t.Errorf("FlagNames (-want +got):\n%s", diff)
	}
	// The shared list in pkg/mptcp must not be changed by removing implicit.
	if diff := cmp.Diff([]string{"signal", "subflow", "backup", "fullmesh", "implicit", "laminar"}, mptcp.FlagNames()); diff != "" {
		t.Errorf("mptcp.FlagNames changed (-want +got):\n%s", diff)
	}
}

func TestEqual(t *testing.T) {
	a, err := Parse("a.yaml", []byte("limits: {subflows: 2}\nendpoints:\n  - address: 192.0.2.1\nsysctl: {enabled: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("b.yaml", []byte("# moved down\n\nlimits:\n  subflows: 2\nendpoints:\n  -   address: ::ffff:192.0.2.1\nsysctl:\n  net.mptcp.enabled: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Equal(b) {
		t.Errorf("configs that differ only in layout are not Equal")
	}
	changes := map[string]func(c *Config){
		"limit value":  func(c *Config) { c.Limits.Subflows = u32(3) },
		"limit unset":  func(c *Config) { c.Limits.Subflows = nil },
		"limits nil":   func(c *Config) { c.Limits = nil },
		"entry flags":  func(c *Config) { c.Endpoints[0].Flags = mptcp.FlagBackup },
		"no entries":   func(c *Config) { c.Endpoints = nil },
		"unmanaged":    func(c *Config) { c.ManageEndpoints = false },
		"sysctl value": func(c *Config) { c.Sysctls[0].Value = "0" },
		"ownership":    func(c *Config) { c.Ownership = Shared },
	}
	for name, change := range changes {
		c, _ := Parse("a.yaml", []byte("limits: {subflows: 2}\nendpoints:\n  - address: 192.0.2.1\nsysctl: {enabled: 1}\n"))
		change(c)
		if a.Equal(c) || c.Equal(a) {
			t.Errorf("%s: changed config is still Equal", name)
		}
	}
	var nilCfg *Config
	if !nilCfg.Equal(nil) || a.Equal(nil) {
		t.Errorf("Equal with nil is wrong")
	}
}

func TestEntryEndpoint(t *testing.T) {
	e := Entry{Address: netip.MustParseAddr("192.0.2.1"), Dev: "eth0", ID: 7, Port: 443, Flags: mptcp.FlagSignal}
	want := mptcp.Endpoint{ID: 7, Addr: netip.MustParseAddr("192.0.2.1"), Port: 443, Flags: mptcp.FlagSignal, IfIndex: 3}
	if diff := cmp.Diff(want, e.Endpoint(3), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Endpoint (-want +got):\n%s", diff)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("limits: {subflows: 3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != good || cfg.Limits == nil || *cfg.Limits.Subflows != 3 {
		t.Errorf("Load = %+v, want Path %s and subflows 3", cfg, good)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("limits: {subflows: 9}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].File != bad {
		t.Errorf("Load(bad) = %v, want one Error naming %s", err, bad)
	}

	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want ErrNotExist", err)
	}

	huge := filepath.Join(dir, "huge.yaml")
	if err := os.WriteFile(huge, []byte(strings.Repeat("#", MaxFileSize+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(huge); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load(huge) = %v, want a size error", err)
	}
}

func TestSyntaxErrorPosition(t *testing.T) {
	tests := []struct {
		name, in  string
		line, col int
	}{
		{"misaligned key", "limits:\n  subflows: 2\n add_addr_accepted: 2\n", 3, 2},
		{"tab", "limits:\n  subflows: 2\n\tadd_addr_accepted: 2\n", 3, 1},
		{"unclosed quote points at the quote", "endpoints:\n  - interface: \"eth0\n", 2, 16},
		{"value with colon", "limits:\n  subflows: 2: 3\n", 2, 14},
		{"bad byte", "limits:\n  subflows: 2 # \xff\n", 2, 17},
		{"unknown anchor", "limits: *x\n", 1, 10},
		// Past the search bounds, the library's line is kept.
		{"huge file", strings.Repeat("#\n", maxLocateLines) + "a: b: c\n", maxLocateLines + 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.in))
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("Parse = %v, want one error", err)
			}
			if got := [2]int{errs[0].Line, errs[0].Column}; got != [2]int{tt.line, tt.col} {
				t.Errorf("syntax error at %d:%d, want %d:%d (%s)", got[0], got[1], tt.line, tt.col, errs[0].Msg)
			}
			if !strings.HasPrefix(errs[0].Msg, "YAML syntax error: ") {
				t.Errorf("message %q does not say it is a syntax error", errs[0].Msg)
			}
		})
	}
}

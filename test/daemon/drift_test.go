package daemon

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// driftConfig manages limits and two endpoints with fixed ids.
const driftConfig = `limits:
  subflows: 3
  add_addr_accepted: 1
endpoints:
  - address: 10.5.0.1
    dev: eth5
    id: 50
    flags: [subflow]
  - address: 10.5.0.2
    dev: eth5
    id: 51
    flags: [signal]
`

var driftEndpoints = []string{"10.5.0.1 subflow dev eth5", "10.5.0.2 signal dev eth5"}

func newDriftHost(t *testing.T) *host {
	t.Helper()
	h := newHost(t)
	h.link("eth5", "10.5.0.1/24", "10.5.0.2/24")
	h.writeConfig(driftConfig)
	return h
}

// TestHandChangesRepaired changes the kernel by hand in each way and
// expects the periodic re-read to put it back. Each change gets a fresh
// daemon, so that no change counts towards a fight with another.
func TestHandChangesRepaired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change [][]string // ip commands, after -n NS
		// repaired also holds when the repair is done the least disruptive
		// way.
		check func(t *testing.T, h *host, p *proc)
	}{
		{
			name:   "endpoint deleted",
			change: [][]string{{"mptcp", "endpoint", "delete", "id", "50"}},
			check: func(t *testing.T, h *host, p *proc) {
				if got := h.idOf("10.5.0.1"); got != 50 {
					t.Errorf("10.5.0.1 came back with id %d, want 50", got)
				}
			},
		},
		{
			name:   "unknown endpoint added",
			change: [][]string{{"mptcp", "endpoint", "add", "10.5.0.99", "id", "99", "subflow"}},
		},
		{
			name:   "backup flag set",
			change: [][]string{{"mptcp", "endpoint", "change", "id", "50", "backup"}},
			check: func(t *testing.T, h *host, p *proc) {
				// Flipped back in place: one SET_FLAGS, the id kept, no delete.
				p.waitActions("10.5.0.1", func(e []logEntry) []logEntry { return changesOf(e, "10.5.0.1") }, "add", "set_flags")
				if got := h.idOf("10.5.0.1"); got != 50 {
					t.Errorf("10.5.0.1 has id %d, want 50", got)
				}
			},
		},
		{
			name:   "limits set",
			change: [][]string{{"mptcp", "limits", "set", "subflows", "7"}},
		},
		{
			name: "endpoints flushed",
			change: [][]string{
				{"mptcp", "endpoint", "flush"},
				{"mptcp", "limits", "set", "subflows", "0", "add_addr_accepted", "0"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newDriftHost(t)
			p := h.start()
			h.waitEndpoints(driftEndpoints...)
			want := h.kernelText()
			for _, c := range tt.change {
				h.ip(c...)
			}
			// Repaired: the kernel is again exactly what the daemon made.
			waitFor(t, "the hand change to be repaired", func() string {
				return cmp.Diff(want, h.kernelText())
			})
			if tt.check != nil {
				tt.check(t, h, p)
			}
			if st := h.status(); len(st.Fights) != 0 {
				t.Errorf("one hand change was taken for a fight: %+v", st.Fights)
			}
		})
	}
}

// TestFightBacksOff undoes the daemon's work again and again, as another
// manager would: the daemon must notice, back off and say so.
func TestFightBacksOff(t *testing.T) {
	t.Parallel()
	h := newDriftHost(t)
	p := h.start()
	h.waitEndpoints(driftEndpoints...)

	const maxRounds = 10
	rounds := 0
	for ; rounds < maxRounds && len(h.status().Fights) == 0; rounds++ {
		h.waitEndpoints(driftEndpoints...)
		h.ip("mptcp", "endpoint", "delete", "id", "50")
		waitFor(t, "the daemon to put 10.5.0.1 back or give up", func() string {
			if h.idOf("10.5.0.1") != 0 || len(h.status().Fights) > 0 {
				return ""
			}
			return "10.5.0.1 still missing"
		})
	}
	st := h.status()
	if len(st.Fights) == 0 {
		t.Fatalf("no fight found after the endpoint was deleted %d times", rounds)
	}
	keys := []string{}
	for _, f := range st.Fights {
		keys = append(keys, f.Key)
		if f.Culprit == "" || f.BackoffUntil.IsZero() {
			t.Errorf("fight %+v names no culprit or no end of its backoff", f)
		}
	}
	if !slices.Contains(keys, "endpoint 10.5.0.1") {
		t.Errorf("fights %q, want one over endpoint 10.5.0.1", keys)
	}
	// Backing off: the endpoint stays missing while the status shows the
	// fight, and the daemon said so once in its log.
	h.waitRuns(3)
	if got := h.idOf("10.5.0.1"); got != 0 && len(h.status().Fights) > 0 {
		t.Errorf("10.5.0.1 was put back (id %d) during the backoff", got)
	}
	var warned []string
	for _, e := range p.out.logEntries() {
		if strings.Contains(e.Msg, "backing off") {
			warned = append(warned, fmt.Sprintf("%s: %s", e.Level, e.Step))
		}
	}
	if len(warned) != 1 {
		t.Errorf("backoff log lines %q, want exactly one", warned)
	}
}

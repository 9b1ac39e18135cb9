package control

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

const (
	labelWidth = 11
	// continuation indents the extra lines of a field (errors, reasons).
	continuation = "             "
)

// WriteStatus writes s as `mptcpd status` shows it in a terminal. Times are
// shown in now's location, ages relative to now.
func WriteStatus(w io.Writer, s Status, now time.Time) error {
	var b strings.Builder
	loc := now.Location()

	d := s.Daemon
	fmt.Fprintf(&b, "mptcpd %s, pid %d, up %s (since %s), %s\n", orUnknown(d.Version), d.PID, age(now.Sub(d.StartedAt)), stamp(d.StartedAt, loc), plural(int(d.Runs), "run"))

	if c := s.Config; c != nil {
		field(&b, "config", fmt.Sprintf("%s (sha256 %s), loaded %s", c.Path, shortDigest(c.SHA256), stamp(c.LoadedAt, loc)))
	} else {
		field(&b, "config", "none loaded yet")
	}
	if r := s.Rejected; r != nil {
		kept := "the config above stays in force"
		if s.Config == nil {
			kept = "no config is in force"
		}
		field(&b, "rejected", fmt.Sprintf("%s (sha256 %s) at %s; %s:", r.Path, shortDigest(r.SHA256), stamp(r.RejectedAt, loc), kept))
		for _, e := range r.Errors {
			b.WriteString(continuation + e + "\n")
		}
	}

	if r := s.LastRun; r != nil {
		field(&b, "last run", fmt.Sprintf("%s (%s ago), took %s: %s, %s",
			stamp(r.StartedAt, loc), age(now.Sub(r.StartedAt)), took(r.Duration), r.Result, plural(r.Changes, "change")))
		if len(r.Reasons) > 0 {
			b.WriteString(continuation + "why: " + strings.Join(r.Reasons, ", ") + "\n")
		}
		for _, e := range r.Errors {
			b.WriteString(continuation + "error: " + e + "\n")
		}
	} else {
		field(&b, "last run", "none yet")
	}

	field(&b, "limits", settings(s.Limits, func(l Limit) (string, string, string) {
		return l.Name, strconv.FormatUint(uint64(l.Desired), 10), strconv.FormatUint(uint64(l.Actual), 10)
	}))
	field(&b, "sysctls", settings(s.Sysctls, func(c Sysctl) (string, string, string) {
		return c.Name, c.Desired, c.Actual
	}))

	b.WriteString("\n")
	if len(s.Endpoints) == 0 {
		field(&b, "endpoints", "none")
	} else {
		b.WriteString("endpoints\n")
		writeEndpoints(&b, s.Endpoints)
	}

	if len(s.Fights) > 0 {
		b.WriteString("\nfights\n")
		for _, f := range s.Fights {
			line := fmt.Sprintf("  %s: undone %s", f.Key, plural(f.Count, "time"))
			if f.Culprit != "" {
				line += ", probably " + f.Culprit
			}
			if !f.BackoffUntil.IsZero() && f.BackoffUntil.After(now) {
				line += ", left alone until " + stamp(f.BackoffUntil, loc)
			}
			b.WriteString(line + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeEndpoints(b *strings.Builder, eps []Endpoint) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tADDRESS\tPORT\tDEV\tFLAGS\tSTATE")
	for _, e := range eps {
		id := "-"
		if e.State == Installed && e.ID != 0 {
			id = strconv.Itoa(int(e.ID))
		}
		port := ""
		if e.Port != 0 {
			port = strconv.Itoa(int(e.Port))
		}
		dev := e.Dev
		if dev == "" {
			dev = e.Interface
		}
		flags := strings.Join(e.Flags, ",")
		if flags == "" {
			flags = "-"
		}
		state := e.State
		if e.Reason != "" {
			state += ": " + e.Reason
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", id, e.Address, port, dev, flags, state)
	}
	tw.Flush()
}

// settings lists name=value pairs, with the kernel's value where it differs.
func settings[T any](items []T, parts func(T) (name, desired, actual string)) string {
	if len(items) == 0 {
		return "not managed"
	}
	out := make([]string, len(items))
	for i, it := range items {
		name, desired, actual := parts(it)
		out[i] = name + "=" + desired
		if actual != desired {
			out[i] += " (kernel has " + actual + ")"
		}
	}
	return strings.Join(out, ", ")
}

// WriteReload writes r as `mptcpd reload` prints it.
func WriteReload(w io.Writer, r ReloadResult) error {
	var b strings.Builder
	file := r.Path
	if r.SHA256 != "" {
		file += " (sha256 " + shortDigest(r.SHA256) + ")"
	}
	switch r.Result {
	case Applied:
		if r.Changes == 0 {
			fmt.Fprintf(&b, "applied %s: no changes needed\n", file)
		} else {
			fmt.Fprintf(&b, "applied %s: %s\n", file, plural(r.Changes, "change"))
		}
	case Rejected:
		fmt.Fprintf(&b, "rejected %s; the previous config stays in force:\n", file)
	case Failed:
		fmt.Fprintf(&b, "failed to apply %s fully (it is in force): %s made, %s:\n", file, plural(r.Changes, "change"), plural(len(r.Errors), "error"))
	default:
		fmt.Fprintf(&b, "reload of %s ended in %q\n", file, r.Result)
	}
	for _, e := range r.Errors {
		b.WriteString("  " + e + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func field(b *strings.Builder, label, value string) {
	fmt.Fprintf(b, "%-*s%s\n", labelWidth, label, value)
}

func stamp(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "never"
	}
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}

// age is a duration as a person reads it: two units at most.
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	days, h, m, s := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60, int(d/time.Second)%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// took is a run's duration, precise enough to compare runs.
func took(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

func shortDigest(hex string) string {
	if len(hex) > 12 {
		return hex[:12]
	}
	return orUnknown(hex)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

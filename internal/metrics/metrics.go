// Package metrics exposes the daemon's work to Prometheus: runs and their
// outcome, the changes made to the kernel, config reloads and the endpoints
// installed or withheld. It uses its own registry, never the global one, so
// that a daemon (or a test) can hold several without collisions.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ChangeKind is the kind label of mptcpd_changes_total.
type ChangeKind string

const (
	ChangeAdd      ChangeKind = "add"
	ChangeDelete   ChangeKind = "delete"
	ChangeSetFlags ChangeKind = "set_flags"
	// ChangeReplace is a DEL then ADD of one endpoint (it closes subflows).
	ChangeReplace ChangeKind = "replace"
	ChangeLimits  ChangeKind = "limits"
	ChangeSysctl  ChangeKind = "sysctl"
)

// ChangeKinds lists every kind, each exported from the first scrape on.
var ChangeKinds = []ChangeKind{ChangeAdd, ChangeDelete, ChangeSetFlags, ChangeReplace, ChangeLimits, ChangeSysctl}

// Run is what one reconcile did, as the daemon reports it.
type Run struct {
	// Finished is when the run ended; it becomes the last success time.
	Finished time.Time
	Duration time.Duration
	// OK is false when any step failed.
	OK bool
	// Changes counts the changes made, by kind.
	Changes map[ChangeKind]int
	// Errors counts the steps that failed.
	Errors int
	// Installed and Withheld count the desired endpoints in each state
	// after the run.
	Installed, Withheld int
}

// Metrics holds mptcpd's collectors and the registry that exports them.
type Metrics struct {
	registry    *prometheus.Registry
	runs        *prometheus.CounterVec
	changes     *prometheus.CounterVec
	errors      prometheus.Counter
	lastSuccess prometheus.Gauge
	runDuration prometheus.Histogram
	reloads     *prometheus.CounterVec
	endpoints   *prometheus.GaugeVec
}

// New creates the collectors in a fresh registry, along with the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mptcpd_runs_total",
			Help: "Reconcile runs, by result (ok or error).",
		}, []string{"result"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mptcpd_changes_total",
			Help: "Changes made to the kernel, by kind.",
		}, []string{"kind"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mptcpd_errors_total",
			Help: "Reconcile steps that failed.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mptcpd_last_success_timestamp_seconds",
			Help: "Unix time at which the last fully successful run ended (0 before the first).",
		}),
		runDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mptcpd_run_duration_seconds",
			Help: "How long reconcile runs take.",
			// A run is a few netlink round trips: milliseconds, unless
			// the kernel or the host is in trouble.
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mptcpd_config_reloads_total",
			Help: "Config reloads, by result (applied or rejected).",
		}, []string{"result"}),
		endpoints: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mptcpd_endpoints",
			Help: "Desired endpoints after the last run, by state (installed or withheld).",
		}, []string{"state"}),
	}
	// Create every label value now, so that a dashboard sees 0 rather than
	// no series until the first error or rejection.
	for _, r := range []string{"ok", "error"} {
		m.runs.WithLabelValues(r)
	}
	for _, k := range ChangeKinds {
		m.changes.WithLabelValues(string(k))
	}
	for _, r := range []string{"applied", "rejected"} {
		m.reloads.WithLabelValues(r)
	}
	for _, s := range []string{"installed", "withheld"} {
		m.endpoints.WithLabelValues(s)
	}
	m.registry.MustRegister(
		m.runs, m.changes, m.errors, m.lastSuccess, m.runDuration, m.reloads, m.endpoints,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry is where the collectors live, for callers that add their own or
// gather directly.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// ObserveRun records one reconcile run.
func (m *Metrics) ObserveRun(r Run) {
	result := "ok"
	if !r.OK {
		result = "error"
	}
	m.runs.WithLabelValues(result).Inc()
	m.runDuration.Observe(r.Duration.Seconds())
	for kind, n := range r.Changes {
		if n > 0 {
			m.changes.WithLabelValues(string(kind)).Add(float64(n))
		}
	}
	if r.Errors > 0 {
		m.errors.Add(float64(r.Errors))
	}
	if r.OK {
		m.lastSuccess.Set(float64(r.Finished.UnixNano()) / 1e9)
	}
	m.endpoints.WithLabelValues("installed").Set(float64(r.Installed))
	m.endpoints.WithLabelValues("withheld").Set(float64(r.Withheld))
}

// ObserveReload records a config reload: applied, or rejected (the previous
// config stays in force).
func (m *Metrics) ObserveReload(applied bool) {
	if applied {
		m.reloads.WithLabelValues("applied").Inc()
		return
	}
	m.reloads.WithLabelValues("rejected").Inc()
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// shutdownGrace bounds how long a scrape in progress may delay shutdown.
const shutdownGrace = 5 * time.Second

// Serve listens on addr (host:port, as for --metrics-listen) and serves
// /metrics until ctx ends.
func (m *Metrics) Serve(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return m.ServeListener(ctx, ln)
}

// ServeListener serves /metrics on ln until ctx ends, then closes ln. It
// returns nil after a shutdown that ctx asked for.
func (m *Metrics) ServeListener(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	stopped := make(chan error, 1)
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		defer cancel()
		stopped <- srv.Shutdown(sctx)
	})
	err := srv.Serve(ln) // closes ln whatever happens
	if !errors.Is(err, http.ErrServerClosed) {
		stop()
		return fmt.Errorf("metrics on %s: %w", ln.Addr(), err)
	}
	if err := <-stopped; err != nil {
		return fmt.Errorf("metrics on %s: shutdown: %w", ln.Addr(), err)
	}
	return nil
}

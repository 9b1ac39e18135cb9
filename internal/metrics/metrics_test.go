package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mptcpd/mptcpd/internal/metrics"
	"github.com/mptcpd/mptcpd/internal/nstest"
)

var names = []string{
	"mptcpd_runs_total",
	"mptcpd_changes_total",
	"mptcpd_errors_total",
	"mptcpd_last_success_timestamp_seconds",
	"mptcpd_run_duration_seconds",
	"mptcpd_config_reloads_total",
	"mptcpd_endpoints",
}

const fresh = `
# HELP mptcpd_changes_total Changes made to the kernel, by kind.
# TYPE mptcpd_changes_total counter
mptcpd_changes_total{kind="add"} 0
mptcpd_changes_total{kind="delete"} 0
mptcpd_changes_total{kind="limits"} 0
mptcpd_changes_total{kind="replace"} 0
mptcpd_changes_total{kind="set_flags"} 0
mptcpd_changes_total{kind="sysctl"} 0
# HELP mptcpd_config_reloads_total Config reloads, by result (applied or rejected).
# TYPE mptcpd_config_reloads_total counter
mptcpd_config_reloads_total{result="applied"} 0
mptcpd_config_reloads_total{result="rejected"} 0
# HELP mptcpd_endpoints Desired endpoints after the last run, by state (installed or withheld).
# TYPE mptcpd_endpoints gauge
mptcpd_endpoints{state="installed"} 0
mptcpd_endpoints{state="withheld"} 0
# HELP mptcpd_errors_total Reconcile steps that failed.
# TYPE mptcpd_errors_total counter
mptcpd_errors_total 0
# HELP mptcpd_last_success_timestamp_seconds Unix time at which the last fully successful run ended (0 before the first).
# TYPE mptcpd_last_success_timestamp_seconds gauge
mptcpd_last_success_timestamp_seconds 0
# HELP mptcpd_run_duration_seconds How long reconcile runs take.
# TYPE mptcpd_run_duration_seconds histogram
mptcpd_run_duration_seconds_bucket{le="0.001"} 0
mptcpd_run_duration_seconds_bucket{le="0.004"} 0
mptcpd_run_duration_seconds_bucket{le="0.016"} 0
mptcpd_run_duration_seconds_bucket{le="0.064"} 0
mptcpd_run_duration_seconds_bucket{le="0.256"} 0
mptcpd_run_duration_seconds_bucket{le="1.024"} 0
mptcpd_run_duration_seconds_bucket{le="4.096"} 0
mptcpd_run_duration_seconds_bucket{le="16.384"} 0
mptcpd_run_duration_seconds_bucket{le="+Inf"} 0
mptcpd_run_duration_seconds_sum 0
mptcpd_run_duration_seconds_count 0
# HELP mptcpd_runs_total Reconcile runs, by result (ok or error).
# TYPE mptcpd_runs_total counter
mptcpd_runs_total{result="error"} 0
mptcpd_runs_total{result="ok"} 0
`

// afterWork is the state after the runs and reloads in record.
const afterWork = `
# HELP mptcpd_changes_total Changes made to the kernel, by kind.
# TYPE mptcpd_changes_total counter
mptcpd_changes_total{kind="add"} 3
mptcpd_changes_total{kind="delete"} 1
mptcpd_changes_total{kind="limits"} 1
mptcpd_changes_total{kind="replace"} 0
mptcpd_changes_total{kind="set_flags"} 2
mptcpd_changes_total{kind="sysctl"} 0
# HELP mptcpd_config_reloads_total Config reloads, by result (applied or rejected).
# TYPE mptcpd_config_reloads_total counter
mptcpd_config_reloads_total{result="applied"} 2
mptcpd_config_reloads_total{result="rejected"} 1
# HELP mptcpd_endpoints Desired endpoints after the last run, by state (installed or withheld).
# TYPE mptcpd_endpoints gauge
mptcpd_endpoints{state="installed"} 2
mptcpd_endpoints{state="withheld"} 1
# HELP mptcpd_errors_total Reconcile steps that failed.
# TYPE mptcpd_errors_total counter
mptcpd_errors_total 2
# HELP mptcpd_last_success_timestamp_seconds Unix time at which the last fully successful run ended (0 before the first).
# TYPE mptcpd_last_success_timestamp_seconds gauge
mptcpd_last_success_timestamp_seconds 1.7e+09
# HELP mptcpd_run_duration_seconds How long reconcile runs take.
# TYPE mptcpd_run_duration_seconds histogram
mptcpd_run_duration_seconds_bucket{le="0.001"} 0
mptcpd_run_duration_seconds_bucket{le="0.004"} 1
mptcpd_run_duration_seconds_bucket{le="0.016"} 1
mptcpd_run_duration_seconds_bucket{le="0.064"} 1
mptcpd_run_duration_seconds_bucket{le="0.256"} 1
mptcpd_run_duration_seconds_bucket{le="1.024"} 2
mptcpd_run_duration_seconds_bucket{le="4.096"} 2
mptcpd_run_duration_seconds_bucket{le="16.384"} 2
mptcpd_run_duration_seconds_bucket{le="+Inf"} 2
mptcpd_run_duration_seconds_sum 0.502
mptcpd_run_duration_seconds_count 2
# HELP mptcpd_runs_total Reconcile runs, by result (ok or error).
# TYPE mptcpd_runs_total counter
mptcpd_runs_total{result="error"} 1
mptcpd_runs_total{result="ok"} 1
`

// record is a successful run, then a run that failed twice (which must not
// move the last success time), and three reloads.
func record(m *metrics.Metrics) {
	m.ObserveRun(metrics.Run{
		Finished:  time.Unix(1_700_000_000, 0),
		Duration:  2 * time.Millisecond,
		OK:        true,
		Changes:   map[metrics.ChangeKind]int{metrics.ChangeAdd: 2, metrics.ChangeDelete: 1, metrics.ChangeLimits: 1},
		Installed: 3,
	})
	m.ObserveRun(metrics.Run{
		Finished:  time.Unix(1_700_000_100, 0),
		Duration:  500 * time.Millisecond,
		OK:        false,
		Changes:   map[metrics.ChangeKind]int{metrics.ChangeAdd: 1, metrics.ChangeSetFlags: 2, metrics.ChangeSysctl: 0},
		Errors:    2,
		Installed: 2,
		Withheld:  1,
	})
	m.ObserveReload(true)
	m.ObserveReload(false)
	m.ObserveReload(true)
}

func TestRegistry(t *testing.T) {
	tests := []struct {
		name   string
		record func(*metrics.Metrics)
		want   string
	}{
		{name: "fresh", record: func(*metrics.Metrics) {}, want: fresh},
		{name: "after work", record: record, want: afterWork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.New()
			tt.record(m)
			if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(tt.want), names...); err != nil {
				t.Error(err)
			}
		})
	}
}

// Two instances must not share state (no global registry).
func TestInstancesIndependent(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	record(a)
	if err := testutil.GatherAndCompare(b.Registry(), strings.NewReader(fresh), names...); err != nil {
		t.Error(err)
	}
}

func TestHandler(t *testing.T) {
	m := metrics.New()
	record(m)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	checkExposition(t, rec.Body.String())
}

// checkExposition looks for a few mptcpd series and for the runtime and
// process collectors in a scrape.
func checkExposition(t *testing.T, body string) {
	t.Helper()
	for _, line := range []string{
		`mptcpd_runs_total{result="ok"} 1`,
		`mptcpd_changes_total{kind="add"} 3`,
		`mptcpd_config_reloads_total{result="rejected"} 1`,
		`mptcpd_endpoints{state="withheld"} 1`,
		`mptcpd_run_duration_seconds_count 2`,
	} {
		if !strings.Contains(body, "\n"+line+"\n") {
			t.Errorf("scrape lacks %q", line)
		}
	}
	for _, prefix := range []string{"\ngo_goroutines ", "\nprocess_cpu_seconds_total "} {
		if !strings.Contains(body, prefix) {
			t.Errorf("scrape lacks %s", strings.TrimSpace(prefix))
		}
	}
}

func TestServeBadAddress(t *testing.T) {
	err := metrics.New().Serve(context.Background(), "not an address")
	if err == nil || !strings.Contains(err.Error(), "not an address") {
		t.Errorf("Serve on a bad address: %v, want an error naming it", err)
	}
}

// TestServe runs the real listener inside a fresh network namespace (so that
// no traffic touches the host's), scrapes it, and checks that cancelling the
// context shuts it down.
func TestServe(t *testing.T) {
	ns := nstest.Open(t, nstest.NewNS(t))
	const addr = "127.0.0.1:9477" // free: the namespace is new
	m := metrics.New()
	record(m)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- ns.Do(func() error { return m.Serve(ctx, addr) })
	}()

	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := ns.Do(func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
		DisableKeepAlives: true,
	}}
	body, err := scrapeWhenUp(t, client, "http://"+addr+"/metrics", served)
	if err != nil {
		t.Fatal(err)
	}
	checkExposition(t, body)

	resp, err := client.Get("http://" + addr + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /other: %d, want 404", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
	}
	if _, err := client.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("scrape after shutdown succeeded")
	}
}

// scrapeWhenUp retries while Serve is still starting (connection refused),
// and gives up as soon as Serve has returned.
func scrapeWhenUp(t *testing.T, client *http.Client, url string, served <-chan error) (string, error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(url)
		if err != nil {
			select {
			case serr := <-served:
				return "", fmt.Errorf("Serve returned before answering: %v (scrape: %w)", serr, err)
			default:
			}
			if time.Now().After(deadline) {
				return "", fmt.Errorf("metrics server never answered: %w", err)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return string(b), nil
	}
}

// A listener that fails (here: closed under it) ends ServeListener with an
// error rather than a hang, even though ctx is still live.
func TestServeListenerBrokenListener(t *testing.T) {
	ln, err := net.Listen("unix", t.TempDir()+"/m.sock")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	err = metrics.New().ServeListener(context.Background(), ln)
	if err == nil || !strings.Contains(err.Error(), "m.sock") {
		t.Errorf("ServeListener on a closed listener: %v, want an error naming it", err)
	}
}

// Package daemon is `mptcpd run`: it keeps one namespace's path manager
// equal to the config file while the file, the links and the addresses
// change. Every trigger (a file change, SIGHUP, a reload request, an
// rtnetlink event, the periodic drift check) feeds one coalescing runner,
// and every run reads the kernel once, plans, and applies only a non-empty
// plan, so a converged host sees no writes at all.
package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/mptcpd/mptcpd/internal/control"
	"github.com/mptcpd/mptcpd/internal/host"
	"github.com/mptcpd/mptcpd/internal/metrics"
	"github.com/mptcpd/mptcpd/internal/notify"
	"github.com/mptcpd/mptcpd/internal/runner"
	"github.com/mptcpd/mptcpd/internal/watch"
	"github.com/mptcpd/mptcpd/pkg/config"
	"github.com/mptcpd/mptcpd/pkg/netstate"
	"github.com/mptcpd/mptcpd/pkg/reconcile"
)

// ErrStoppedUnexpectedly marks an error that ended a daemon that had
// started, as opposed to one that kept it from starting.
var ErrStoppedUnexpectedly = errors.New("mptcpd stopped unexpectedly")

// Options configure Run.
type Options struct {
	// ConfigPath is the file to follow.
	ConfigPath string
	// NetNS names the namespace to manage ("" for the process's own).
	NetNS string
	// StateDir holds the control socket and the memory of created
	// endpoints.
	StateDir string
	// SocketPath is the control socket; StateDir/control.sock if empty.
	SocketPath string
	// ResyncInterval bounds the time between two reads of the kernel, to
	// find changes made by hand (the kernel announces none).
	ResyncInterval time.Duration
	// MinInterval bounds the rate of runs.
	MinInterval time.Duration
	// MetricsListen serves Prometheus metrics there when not empty.
	MetricsListen string
	// Logger receives one line per change and per rejected file.
	Logger *zap.Logger
	// Version is reported by status.
	Version string
}

// Defaults for Options.
const (
	DefaultResyncInterval = time.Second
	DefaultMinInterval    = 10 * time.Millisecond
	// settle is how long a file must stay the same between two reads to be
	// taken (half-written files are not configs), and readRetries how often
	// a missing or changing file is read again before it is rejected.
	settle      = 20 * time.Millisecond
	readRetries = 10
)

// daemon is the state Run shares between its goroutines.
type daemon struct {
	opts     Options
	log      *zap.Logger
	host     *host.Host
	store    reconcile.OwnedStore
	notifier *notify.Notifier
	metrics  *metrics.Metrics
	runner   *runner.Runner
	fights   *runner.FightDetector
	started  time.Time

	reloadMu sync.Mutex // serialises reloads
	mu       sync.Mutex
	cfg      *config.Config // the good config in force
	cfgInfo  control.Config
	rejected *control.RejectedConfig
	lastRun  *control.Run
	lastOut  host.Outcome
	runErrs  []string
	lastEnd  time.Time
	runs     int64
	// runningSince is when the run in progress started; zero between runs.
	runningSince time.Time
	// statusSent is the last STATUS= text, so a run sends only changes.
	// quiet holds runs' STATUS= updates back before the first READY=1 and
	// between RELOADING=1 and READY=1: the line that ends those is READY's.
	statusSent string
	quiet      bool
	culprits   map[string]string // fight key -> likely culprit
}

// loaded is a config file as read: its bytes' digest and the result.
type loaded struct {
	cfg    *config.Config
	digest string
}

// Run runs the daemon until ctx is done. It returns an error at once when
// no valid config can be loaded at start; later bad files are rejected and
// the last good config stays in force.
func Run(ctx context.Context, opts Options) error {
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = DefaultResyncInterval
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = DefaultMinInterval
	}
	if opts.StateDir == "" {
		opts.StateDir = host.StateDir(opts.NetNS)
	}
	if opts.SocketPath == "" {
		opts.SocketPath = opts.StateDir + "/control.sock"
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	d := &daemon{
		opts:     opts,
		log:      opts.Logger,
		store:    host.OwnedStore(opts.StateDir),
		notifier: notify.New(),
		metrics:  metrics.New(),
		started:  time.Now(),
		culprits: map[string]string{},
		quiet:    true,
	}
	return d.run(ctx)
}

func (d *daemon) run(ctx context.Context) error {
	// Take SIGHUP before anything else: until a Go program asks for it, the
	// signal kills it, and a reload sent while the daemon starts must not.
	// One that arrives before the loop runs waits in the channel and
	// becomes a reload once it does.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	h, err := host.Open(d.opts.NetNS)
	if err != nil {
		return err
	}
	defer h.Close()
	d.host = h

	// Watch first, then read: no change can fall between the two.
	files, err := watch.Watch(ctx, d.opts.ConfigPath)
	if err != nil {
		return fmt.Errorf("watch %s: %w", d.opts.ConfigPath, err)
	}
	defer files.Close()
	first, err := d.load(ctx)
	if err != nil {
		return err
	}
	d.setConfig(first)

	links, err := netstate.Watch(ctx, h.NS())
	if err != nil {
		return fmt.Errorf("watch links and addresses: %w", err)
	}
	defer links.Close()

	if d.fights, err = runner.NewFightDetector(runner.FightOptions{}); err != nil {
		return err
	}
	d.runner, err = runner.New(d.reconcile, runner.Options{
		MinInterval: d.opts.MinInterval,
		MaxInterval: d.opts.ResyncInterval,
	})
	if err != nil {
		return err
	}

	ln, err := control.Listen(d.opts.SocketPath)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	loopCtx, stopLoops := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		stopLoops()
		wg.Wait()
	}()
	wg.Go(func() {
		if err := control.Serve(loopCtx, ln, d); err != nil {
			d.log.Error("control socket stopped", zap.Error(err))
		}
	})
	if d.opts.MetricsListen != "" {
		wg.Go(func() {
			if err := d.metrics.Serve(loopCtx, d.opts.MetricsListen); err != nil {
				d.log.Error("metrics server stopped", zap.String("listen", d.opts.MetricsListen), zap.Error(err))
			}
		})
	}
	// The runner joins wg too, so that no return path closes the host
	// under a run in progress.
	wg.Go(func() { _ = d.runner.Loop(loopCtx) })

	// The first run, before READY=1: systemctl start returns once the file
	// is applied.
	err = d.runner.RunNow(ctx, "start")
	d.done(true, d.summary(err))
	d.log.Info("started", zap.String("config", d.opts.ConfigPath), zap.String("netns", nsLabel(d.opts.NetNS)), zap.Error(err))

	var watchdog <-chan time.Time
	if iv, err := notify.WatchdogInterval(); err == nil && iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		watchdog = t.C
	}

	stop := func() error {
		d.notifier.Stopping()
		// Stop the loops; a run in progress finishes its step first, and
		// the kernel is left as it is.
		stopLoops()
		wg.Wait()
		d.log.Info("stopped; endpoints left in place")
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return stop()
		case _, ok := <-files.Changes():
			if !ok {
				// The watchers end with ctx too: a stop, not a failure.
				if ctx.Err() != nil {
					return stop()
				}
				return fmt.Errorf("%w: the config file watcher closed", ErrStoppedUnexpectedly)
			}
			d.reload(ctx, "config file changed", false)
		case err := <-files.Errors():
			d.log.Warn("config watcher", zap.Error(err))
		case <-hup:
			d.reload(ctx, "SIGHUP", true)
		case ev, ok := <-links.Events():
			if !ok {
				if ctx.Err() != nil {
					return stop()
				}
				return fmt.Errorf("%w: the link and address watcher closed: %v", ErrStoppedUnexpectedly, links.Err())
			}
			if ev.Kind == netstate.Overflow {
				d.runner.Trigger("netlink overflow: reading everything again")
				continue
			}
			d.runner.Trigger(ev.String())
		case <-watchdog:
			if d.alive() {
				d.notifier.Watchdog()
			}
		}
	}
}

func nsLabel(ns string) string {
	if ns == "" {
		return "(own)"
	}
	return ns
}

// alive reports whether the loop is not stuck: no run has been going for
// longer than the watchdog allows. (Whether runs finish recently is no
// test: while they keep failing, the retry backs off to a minute between
// runs, and a daemon that is waiting to retry is well.)
func (d *daemon) alive() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	iv, _ := notify.WatchdogInterval()
	return d.runningSince.IsZero() || time.Since(d.runningSince) < 2*iv
}

// load reads and validates the config file. A file that is missing for a
// moment or being written is read again shortly (it is never an empty
// config); one that stays bad is an error with every FILE:LINE:COL.
func (d *daemon) load(ctx context.Context) (loaded, error) {
	path := d.opts.ConfigPath
	var digest string
	cfg, err := watch.ReadStable(ctx, path, settle, readRetries, func(b []byte) (*config.Config, error) {
		sum := sha256.Sum256(b)
		digest = hex.EncodeToString(sum[:])
		if err := config.CheckFileSecurity(path); err != nil {
			return nil, err
		}
		if len(b) > config.MaxFileSize {
			return nil, fmt.Errorf("read config %s: larger than %d bytes; this is not an mptcpd file", path, config.MaxFileSize)
		}
		return config.Parse(path, b)
	})
	if err != nil {
		return loaded{digest: digest}, err
	}
	return loaded{cfg: cfg, digest: digest}, nil
}

func (d *daemon) setConfig(l loaded) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cfg = l.cfg
	d.cfgInfo = control.Config{Path: d.opts.ConfigPath, SHA256: l.digest, LoadedAt: time.Now()}
	d.rejected = nil
}

func (d *daemon) config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// errorLines splits a load error into lines (config.Errors are one
// FILE:LINE:COL line each).
func errorLines(err error) []string {
	var errs config.Errors
	if errors.As(err, &errs) {
		lines := make([]string, len(errs))
		for i, e := range errs {
			lines[i] = e.Error()
		}
		return lines
	}
	return []string{err.Error()}
}

// reload reads the file again and, when it is valid, applies it at once.
// A rejected file never reaches the kernel. viaSystemd frames the reload
// with RELOADING=1 ... READY=1, as a reload systemd asked for; otherwise
// only STATUS= tells the outcome.
func (d *daemon) reload(ctx context.Context, reason string, viaSystemd bool) control.ReloadResult {
	// One reload at a time: a request on the control socket and a file
	// change seen by the loop must not interleave their RELOADING=1 and
	// READY=1.
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if viaSystemd {
		d.setQuiet(true) // between RELOADING=1 and READY=1, no STATUS= of runs
		d.notifier.Reloading()
	}
	res := control.ReloadResult{Path: d.opts.ConfigPath}
	l, err := d.load(ctx)
	res.SHA256 = l.digest
	if err != nil {
		res.Result = control.Rejected
		res.Errors = errorLines(err)
		d.mu.Lock()
		d.rejected = &control.RejectedConfig{Path: d.opts.ConfigPath, SHA256: l.digest, RejectedAt: time.Now(), Errors: res.Errors}
		inForce := d.cfgInfo.SHA256
		d.mu.Unlock()
		d.metrics.ObserveReload(false)
		d.log.Error("config rejected; the last good config stays in force",
			zap.String("config", d.opts.ConfigPath), zap.String("reason", reason),
			zap.Strings("errors", res.Errors), zap.String("in_force_sha256", inForce))
		d.done(viaSystemd, fmt.Sprintf("rejected %s: %s; running on the last good config", d.opts.ConfigPath, res.Errors[0]))
		return res
	}
	if old := d.config(); old == nil || !old.Equal(l.cfg) {
		d.fights.Reset() // a new intent: apply it at once
	}
	d.setConfig(l)
	d.metrics.ObserveReload(true)
	err = d.runner.RunNow(ctx, reason)
	d.mu.Lock()
	res.Changes = len(d.lastOut.Result.Done)
	runErrs := d.runErrs
	d.mu.Unlock()
	switch {
	case err != nil && len(runErrs) > 0:
		res.Result = control.Failed
		res.Errors = runErrs
	case err != nil:
		res.Result = control.Failed
		res.Errors = []string{err.Error()}
	default:
		res.Result = control.Applied
	}
	d.done(viaSystemd, d.summary(err))
	return res
}

// done reports the end of a reload to systemd. Only a reload framed by
// RELOADING=1 ends with READY=1: a reload the file watcher started sends
// just STATUS=, since its READY=1 could otherwise land inside a concurrent
// systemd reload and end that one before its file was applied.
func (d *daemon) done(viaSystemd bool, status string) {
	d.mu.Lock()
	d.statusSent = status
	d.mu.Unlock()
	if viaSystemd {
		d.notifier.Ready(status)
		d.setQuiet(false)
		return
	}
	d.notifier.Status(status)
}

// setQuiet holds back the STATUS= updates of runs (see updateStatus).
func (d *daemon) setQuiet(quiet bool) {
	d.mu.Lock()
	d.quiet = quiet
	d.mu.Unlock()
}

// summary is the STATUS= line.
func (d *daemon) summary(err error) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	digest := d.cfgInfo.SHA256
	if len(digest) > 12 {
		digest = digest[:12]
	}
	installed, withheld := d.counts()
	s := fmt.Sprintf("applied %s (%s): %d endpoints installed, %d withheld", d.opts.ConfigPath, digest, installed, withheld)
	if err != nil {
		s = fmt.Sprintf("%s (%s) in force, but the last run failed: %v", d.opts.ConfigPath, digest, err)
	}
	if d.rejected != nil {
		s += "; rejected newer file: " + d.rejected.Errors[0]
	}
	return s
}

// Reload answers the control socket's reload request.
func (d *daemon) Reload(ctx context.Context) control.ReloadResult {
	return d.reload(ctx, "reload request", true)
}

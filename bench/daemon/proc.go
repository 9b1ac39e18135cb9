package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mptcpd/mptcpd/internal/testbin"
)

// process is a daemon the bench started. Only its own PID is ever
// signalled.
type process struct {
	name  string
	cmd   *exec.Cmd
	out   *testbin.Buffer
	child *testbin.Child
}

// startProcess starts argv with the bench's environment plus env.
func startProcess(name string, argv []string, env ...string) (*process, error) {
	p := &process{name: name, cmd: exec.Command(argv[0], argv[1:]...), out: &testbin.Buffer{}}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	child, err := testbin.Start(p.cmd)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.child = child
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// running reports an early exit as an error with the process's output.
func (p *process) running() error {
	select {
	case <-p.child.Exited():
		return fmt.Errorf("%s exited: %v\n%s", p.name, p.child.Err(), p.out)
	default:
		return nil
	}
}

// stop sends SIGTERM, waits, and kills after the bound. It returns the exit
// error (nil for exit 0).
func (p *process) stop(within time.Duration) error {
	return p.child.Stop(within)
}

// memory is a reading of a process's resident memory, in KiB (the kernel
// writes "kB" and means KiB): VmRSS and its two parts that matter here,
// anonymous memory (heap, stacks: what the process itself allocated) and
// file-backed pages (mostly the executable's own code and data, shared
// and reclaimable).
type memory struct {
	RSS, Anon, File int64
}

func readMemory(pid int) (memory, error) {
	var m memory
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	fields := map[string]*int64{"VmRSS:": &m.RSS, "RssAnon:": &m.Anon, "RssFile:": &m.File}
	found := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if dst, ok := fields[f[0]]; ok {
			if *dst, err = strconv.ParseInt(f[1], 10, 64); err != nil {
				return m, fmt.Errorf("/proc/%d/status: %s: %w", pid, line, err)
			}
			found++
		}
	}
	if found != len(fields) {
		return m, fmt.Errorf("/proc/%d/status: no VmRSS, RssAnon or RssFile", pid)
	}
	return m, nil
}

// userHZ is the unit of the CPU times in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 for every architecture's user interface.
const userHZ = 100

// cpuTicks is utime+stime of pid (all threads) in USER_HZ ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may contain spaces and parentheses: fields are
	// counted from the last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return utime + stime, nil
}

// cpuNanos is the CPU time of every thread of pid from schedstat, in
// nanoseconds: the same quantity as cpuTicks without its 10 ms steps, which
// are as large as the whole 0.1% budget over 10 s.
func cpuNanos(pid int) (int64, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no schedstat for pid %d: %v", pid, err)
	}
	var total int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that ended: its time is gone with it
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", t, err)
		}
		total += ns
	}
	return total, nil
}

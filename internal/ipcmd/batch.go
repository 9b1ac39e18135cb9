package ipcmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Batch runs the commands of r, one per line, as `ip -batch` does: a line
// is the words after `mptcpd` (a leading "mptcp", as in files written for
// `ip -batch`, is skipped); "#" starts a comment; a backslash at the end of
// a line continues it on the next; words may be quoted with ' or ". Blank
// lines are skipped. All commands share env.Kernel, so one socket serves
// the whole batch.
//
// A failed command is reported with "Command failed NAME:LINE" and stops
// the batch, unless force is set, in which case the batch goes on and
// fails at the end. (`ip -batch` exits at once on a usage error, even with
// -force; mptcpd treats every failure alike.) The error is a *BatchError,
// whose exit status is ExitUsage if any failure was a usage error. When ctx
// is done the batch stops after the running command; once a monitor line
// has run, so does SIGINT or SIGTERM, which is the monitor's normal end.
func Batch(ctx context.Context, env Env, r io.Reader, name string, force bool) error {
	br := bufio.NewReader(r)
	result := &BatchError{}
	lineNo := 0
	watching := false
	for ctx.Err() == nil {
		line, n, err := readCommandLine(br)
		lineNo += n
		if err != nil && !errors.Is(err, io.EOF) {
			if errors.Is(err, errMissingContinuation) {
				fmt.Fprintf(env.Stderr, "Error: %v\n", err)
				fmt.Fprintf(env.Stderr, "Command failed %s:%d\n", name, lineNo)
				result.Failed++
				result.Usage = true
				break
			}
			return fmt.Errorf("read batch %s: %w", name, err)
		}
		if n == 0 {
			break
		}
		args, cmdErr := splitWords(line)
		if cmdErr == nil {
			if len(args) > 0 && args[0] == "mptcp" {
				args = args[1:]
			} else if len(args) == 0 {
				continue
			}
			var cmd Command
			if cmd, cmdErr = Parse(args); cmdErr == nil {
				if cmd.Op == OpMonitor && !watching {
					// The signal that ends the monitor ends the batch.
					var stop context.CancelFunc
					ctx, stop = untilSignal(ctx)
					defer stop()
					watching = true
				}
				cmdErr = Execute(ctx, env, cmd)
				if cmd.Op == OpMonitor && cmdErr == nil {
					// A monitor ends only at a signal. The batch's own
					// handler may not have cancelled ctx yet (each
					// handler hears the signal on its own goroutine), so
					// stop here rather than look at ctx.
					break
				}
			}
		}
		if cmdErr != nil {
			Report(env.Stderr, env.prog(), cmdErr)
			fmt.Fprintf(env.Stderr, "Command failed %s:%d\n", name, lineNo)
			result.Failed++
			result.Usage = result.Usage || ExitCode(cmdErr) == ExitUsage
			if !force {
				break
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if result.Failed > 0 {
		return result
	}
	return nil
}

var errMissingContinuation = errors.New("missing continuation line: the last line ends with a backslash")

// readCommandLine reads one command line as iproute2's getcmdline does:
// everything from "#" on is a comment, and a line ending in a backslash
// continues on the next. It returns the line, how many physical lines it
// took (0 at the end of the input), and io.EOF with the last line.
func readCommandLine(r *bufio.Reader) (string, int, error) {
	line, err := r.ReadString('\n')
	if line == "" && err != nil {
		return "", 0, err
	}
	n := 1
	line = stripComment(line)
	for strings.HasSuffix(line, "\\\n") {
		next, nerr := r.ReadString('\n')
		if next == "" && nerr != nil {
			if errors.Is(nerr, io.EOF) {
				return "", n, errMissingContinuation
			}
			return "", n, nerr
		}
		n++
		line = line[:len(line)-2] + stripComment(next)
		err = nerr
	}
	return line, n, err
}

// stripComment cuts the line at "#". The newline goes too, so a backslash
// before a comment does not continue the line (as in iproute2).
func stripComment(line string) string {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		return line[:i]
	}
	return line
}

// splitWords splits a line into words as iproute2's makeargs does: white
// space separates words; a word that starts with a quote (' or ") runs to
// the next same quote, which may be followed directly by the next word.
func splitWords(line string) ([]string, error) {
	const ws = " \t\r\n"
	var words []string
	for i := 0; i < len(line); {
		for i < len(line) && strings.IndexByte(ws, line[i]) >= 0 {
			i++
		}
		if i == len(line) {
			break
		}
		if q := line[i]; q == '\'' || q == '"' {
			end := strings.IndexByte(line[i+1:], q)
			if end < 0 {
				return nil, usagef("", "unterminated quoted string: %s", strings.TrimSpace(line[i:]))
			}
			words = append(words, line[i+1:i+1+end])
			i += end + 2
			continue
		}
		j := i
		for j < len(line) && strings.IndexByte(ws, line[j]) < 0 {
			j++
		}
		words = append(words, line[i:j])
		i = j + 1
	}
	return words, nil
}

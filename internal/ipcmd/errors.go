package ipcmd

import (
	"errors"
	"fmt"
	"io"
)

// Exit statuses. A usage error (the command line cannot run as written) is
// told apart from a failure of a command that could run (the kernel refused
// it, or it could not be sent), so scripts can tell "my call is wrong" from
// "the host said no".
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// UsageError is a command line that cannot run as written.
type UsageError struct {
	// Msg says which argument is wrong and what would be right.
	Msg string
	// Topic names the help page with the right form, such as
	// "endpoint add"; empty for the overview.
	Topic string
}

func (e *UsageError) Error() string { return e.Msg }

func usagef(topic, format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...), Topic: topic}
}

// BatchError reports that commands of a batch failed. Each failure has
// already been printed with its file and line, as `ip -batch` does.
type BatchError struct {
	// Failed counts the commands that failed.
	Failed int
	// Usage is set when at least one of them was a usage error.
	Usage bool
}

func (e *BatchError) Error() string {
	if e.Failed == 1 {
		return "1 command of the batch failed"
	}
	return fmt.Sprintf("%d commands of the batch failed", e.Failed)
}

// ExitCode maps an error returned by Run or Batch to the process exit
// status: ExitOK for nil, ExitUsage for usage errors, ExitFailure for
// everything else.
func ExitCode(err error) int {
	var be *BatchError
	var ue *UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &be):
		if be.Usage {
			return ExitUsage
		}
		return ExitFailure
	case errors.As(err, &ue):
		return ExitUsage
	}
	return ExitFailure
}

// Report prints err for a person: "Error: ..." like iproute2, and for a
// usage error the command that shows the right form. A BatchError prints
// nothing, since its failures were printed as they happened.
func Report(w io.Writer, prog string, err error) {
	var be *BatchError
	if err == nil || errors.As(err, &be) {
		return
	}
	fmt.Fprintf(w, "Error: %v\n", err)
	var ue *UsageError
	if errors.As(err, &ue) {
		topic := ue.Topic
		if topic != "" {
			topic += " "
		}
		fmt.Fprintf(w, "Try \"%s %shelp\".\n", prog, topic)
	}
}

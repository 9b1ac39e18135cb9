package watch

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"
)

// ReadStable reads the file at path and returns what parse makes of it,
// without taking a file caught in the middle of a change for the new
// configuration.
//
// A file replaced by rename is never seen half-written, but one written in
// place (truncate, then write) can be, and a truncated YAML file often still
// parses: it would silently drop the endpoints not yet written. So the file is
// read twice, settle apart, and only bytes that held still between the two
// reads are handed to parse. If the file is missing, keeps changing, or parse
// rejects it, ReadStable reads again after settle, up to retries more times
// (parsing only bytes it has not rejected yet),
// and then returns the last error (a missing file's error satisfies
// errors.Is(err, fs.ErrNotExist); parse's errors are returned as they are).
//
// A writer that pauses longer than settle between two writes can still be
// caught in between; its next write produces another change notification and
// another read, so the daemon converges on the final content, and parse
// rejects most partial files on the way. Every call takes at least settle.
func ReadStable[T any](ctx context.Context, path string, settle time.Duration, retries int, parse func([]byte) (T, error)) (T, error) {
	var zero T
	prev, prevErr := os.ReadFile(path)
	var lastErr error
	// rejected holds the bytes parse last refused: the same bytes are not
	// parsed again (a big broken file can take long to locate its error
	// in), but the file is still read until retries run out, in case its
	// writer is not done.
	var rejected []byte
	for attempt := 0; ; attempt++ {
		if err := sleep(ctx, settle); err != nil {
			return zero, err
		}
		cur, err := os.ReadFile(path)
		switch {
		case err != nil:
			lastErr = err
		case prevErr != nil:
			lastErr = prevErr // it appeared only now: see that it holds still
		case !bytes.Equal(prev, cur):
			lastErr = fmt.Errorf("%s changed while being read", path)
		case rejected != nil && bytes.Equal(rejected, cur):
			// lastErr is still parse's verdict on these bytes.
		default:
			v, err := parse(cur)
			if err == nil {
				return v, nil
			}
			lastErr, rejected = err, cur
		}
		if attempt >= retries {
			return zero, lastErr
		}
		prev, prevErr = cur, err
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

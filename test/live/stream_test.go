package live

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// chunk is the size of one write; pause between writes keeps the transfer
// going for the whole test without taking every CPU from the daemon.
const (
	chunk = 32 << 10
	pause = time.Millisecond
)

// tally is what one end saw of a byte stream: how many bytes and their
// SHA-256.
type tally struct {
	Bytes int64
	Sum   [sha256.Size]byte
}

func (t tally) String() string { return fmt.Sprintf("%d bytes, sha256 %x", t.Bytes, t.Sum[:8]) }

// send writes a pseudo-random stream (ChaCha8 with the given seed) to conn
// until stop is closed, then half-closes the connection so that the reader
// sees the end. It returns what it wrote.
func send(conn *net.TCPConn, seed byte, stop <-chan struct{}) (tally, error) {
	src := rand.NewChaCha8([32]byte{seed})
	h := sha256.New()
	buf := make([]byte, chunk)
	var n int64
	for {
		select {
		case <-stop:
			var sum tally
			sum.Bytes = n
			copy(sum.Sum[:], h.Sum(nil))
			if err := conn.CloseWrite(); err != nil {
				return sum, fmt.Errorf("half-close after %d bytes: %w", n, err)
			}
			return sum, nil
		default:
		}
		_, _ = src.Read(buf) // never fails
		h.Write(buf)
		w, err := conn.Write(buf)
		n += int64(w)
		if err != nil {
			return tally{Bytes: n}, fmt.Errorf("write after %d bytes: %w", n, err)
		}
		time.Sleep(pause)
	}
}

// receive reads conn to its end and returns what it read.
func receive(conn *net.TCPConn) (tally, error) {
	h := sha256.New()
	n, err := io.Copy(h, conn)
	var sum tally
	sum.Bytes = n
	copy(sum.Sum[:], h.Sum(nil))
	if err != nil && !errors.Is(err, io.EOF) {
		return sum, fmt.Errorf("read after %d bytes: %w", n, err)
	}
	return sum, nil
}

// direction is one way of the transfer: a sender and a receiver running
// until the sender is told to stop.
type direction struct {
	name       string
	sent, recv chan result
}

type result struct {
	tally tally
	err   error
}

func startDirection(name string, from, to *net.TCPConn, seed byte, stop <-chan struct{}) *direction {
	d := &direction{name: name, sent: make(chan result, 1), recv: make(chan result, 1)}
	go func() {
		s, err := send(from, seed, stop)
		d.sent <- result{s, err}
	}()
	go func() {
		r, err := receive(to)
		d.recv <- result{r, err}
	}()
	return d
}

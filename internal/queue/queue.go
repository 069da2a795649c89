// Package queue hands values to a channel in order without ever blocking
// the sender: values wait in memory until the reader takes them. It is how
// the selector and election packages deliver events to a slow reader
// without delaying their keep-alives.
package queue

import "sync"

// Queue is an unbounded FIFO in front of a channel. Push and Close are safe
// for concurrent use.
type Queue[T any] struct {
	out chan T

	mu     sync.Mutex
	items  []T
	closed bool
	wake   chan struct{} // one pending wake-up for pump
}

// New returns a Queue whose goroutine delivers to Out until Close.
func New[T any]() *Queue[T] {
	q := &Queue[T]{out: make(chan T), wake: make(chan struct{}, 1)}
	go q.pump()
	return q
}

// Out is the channel values are delivered on, in the order pushed. It
// closes after Close, once every pushed value is delivered: read it until
// it closes, or the queue's goroutine stays blocked.
func (q *Queue[T]) Out() <-chan T { return q.out }

// Push queues vs. It never blocks. Pushing after Close panics.
func (q *Queue[T]) Push(vs ...T) {
	if len(vs) == 0 {
		return
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		panic("queue: push after close")
	}
	q.items = append(q.items, vs...)
	q.mu.Unlock()
	q.signal()
}

// Close makes Out close once every pushed value is delivered. Later calls
// do nothing.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *Queue[T]) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *Queue[T]) pump() {
	var zero T
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			closed := q.closed
			q.mu.Unlock()
			if closed {
				close(q.out)
				return
			}
			<-q.wake
			continue
		}
		v := q.items[0]
		q.items[0] = zero // let the value be collected once delivered
		q.items = q.items[1:]
		q.mu.Unlock()
		q.out <- v
	}
}

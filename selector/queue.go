package selector

import (
	"sync"

	"github.com/seed764c596d/mastership/events"
)

// queue hands events to a channel in order, without ever blocking the
// sender: events wait in memory until the reader takes them.
type queue struct {
	out chan events.Event

	mu     sync.Mutex
	items  []events.Event
	closed bool
	wake   chan struct{} // one pending wake-up for pump
}

func newQueue() *queue {
	q := &queue{out: make(chan events.Event), wake: make(chan struct{}, 1)}
	go q.pump()
	return q
}

func (q *queue) push(evs ...events.Event) {
	if len(evs) == 0 {
		return
	}
	q.mu.Lock()
	q.items = append(q.items, evs...)
	q.mu.Unlock()
	q.signal()
}

// close makes pump close out once every pushed event is delivered.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) pump() {
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
		ev := q.items[0]
		q.items[0] = events.Event{}
		q.items = q.items[1:]
		q.mu.Unlock()
		q.out <- ev
	}
}

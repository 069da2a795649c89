package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/selector"
)

// Peer is one node of the group: a member, registered through selector with
// its own lease, and a Table of every member, fed by that member's events.
// Its methods are safe for concurrent use.
type Peer struct {
	sel   *selector.Selector
	table *Table
	log   *slog.Logger
	done  chan struct{} // closed when the selector's events are drained

	mu     sync.Mutex // serialises writes of the member's value
	rec    record
	closed bool
}

// Start registers id in the group under prefix with the given info and
// TTL, and starts following the group. ctx bounds the registration. When
// Start returns, the node's table holds the group as its registration
// found it, this node included.
//
// The member's key holds its record (unique id, start time, info) and is
// attached to the lease selector keeps alive; updates rewrite the value in
// place with the lease kept (the selector's SetValue), so that the record
// lives and dies with the membership.
func Start(ctx context.Context, cli *clientv3.Client, prefix, id string, info Info, ttl time.Duration, log *slog.Logger) (*Peer, error) {
	p := &Peer{log: log, table: newTable(log), done: make(chan struct{}),
		rec: record{UniqueID: newUUID(), Since: time.Now().UTC(),
			Host: info.Host, Port: info.Port, SecurePort: info.SecurePort, UDPPort: info.UDPPort,
			Domain: info.Domain, Payload: bytes.Clone(info.Payload), Meta: maps.Clone(info.Meta)}}
	var err error
	p.sel, err = selector.New(ctx, cli, prefix, id,
		selector.WithValue(p.rec.encode()), selector.WithTTL(ttl), selector.WithLogger(log))
	if err != nil {
		return nil, err
	}
	// New returns with the first event, INIT_MASTER or INIT_SLAVE, waiting:
	// the table starts from its view.
	first, ok := <-p.sel.Events()
	if !ok {
		// The member ended before its first event was read: etcd refused
		// it at once.
		p.sel.Close()
		return nil, fmt.Errorf("peer: member %q ended at once: %w", id, p.sel.Err())
	}
	p.table.apply(first)
	go p.follow()
	return p, nil
}

// ID returns this node's id.
func (p *Peer) ID() string { return p.sel.ID() }

// UniqueID returns the random UUID this node drew at start.
func (p *Peer) UniqueID() string { return p.rec.UniqueID }

// Table returns this node's table of the group.
func (p *Peer) Table() *Table { return p.table }

// Done returns a channel that closes once the node's member has ended and
// its last events have reached the table, which has then closed its
// listeners: after Leave, or by itself when etcd refused it (Err then says
// why). A member that merely lost its registration (its lease expired
// behind a partition, its key was deleted) registers again by itself and
// does not end.
func (p *Peer) Done() <-chan struct{} { return p.done }

// Err returns why the node's member ended by itself: nil while it runs and
// after a Leave of a running member; once etcd has refused it (its user
// lost its permission on the prefix, was deleted, or had its password
// changed), the selector's error, which wraps selector.ErrPermissionDenied
// or selector.ErrAuthFailed and names the refused request, or
// selector.ErrValueTooLarge when etcd refused its record for its size.
// Err is set before Done closes, and stays set after Leave.
func (p *Peer) Err() error { return p.sel.Err() }

// follow feeds the selector's events to the table, and closes it once they
// end. A new registration (after the member lost its lease) writes the
// value last set; should a SetMeta have raced with it, the current record
// is written again over it.
func (p *Peer) follow() {
	defer close(p.done)
	defer p.table.close()
	for ev := range p.sel.Events() {
		p.table.apply(ev)
		switch ev.Type {
		case events.InitMaster, events.InitSlave:
			p.mu.Lock()
			rec := p.rec
			p.mu.Unlock()
			if self, ok := ev.View.Node(ev.View.Self); ok && self.Value != rec.encode() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if err := p.write(ctx); err != nil && !errors.Is(err, ErrNotRegistered) {
					p.log.Warn("rewrite metadata after registering again", "err", err)
				}
				cancel()
			}
		case events.Offline:
			p.mu.Lock()
			closing := p.closed
			p.mu.Unlock()
			if !closing {
				p.log.Warn("registration lost; the table stays as last seen until this node registers again")
			}
		}
	}
}

// SetMeta sets (or, with an empty value, deletes) metadata keys and writes
// the record in place. It returns ErrNotRegistered, keeping the change,
// while the node is between registrations.
func (p *Peer) SetMeta(ctx context.Context, kv map[string]string) error {
	p.mu.Lock()
	meta := maps.Clone(p.rec.Meta)
	if meta == nil {
		meta = map[string]string{}
	}
	for k, v := range kv {
		if v == "" {
			delete(meta, k)
		} else {
			meta[k] = v
		}
	}
	p.rec.Meta = meta
	p.mu.Unlock()
	return p.write(ctx)
}

// SetPayload sets the member's payload (Tribes' getPayload) and writes the
// record in place, as SetMeta does.
func (p *Peer) SetPayload(ctx context.Context, payload []byte) error {
	p.mu.Lock()
	p.rec.Payload = bytes.Clone(payload)
	p.mu.Unlock()
	return p.write(ctx)
}

// write sets the current record as the member's value, in place (the
// selector's SetValue: same key, same lease), and as the value of its later
// registrations.
func (p *Peer) write(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.sel.SetValue(ctx, p.rec.encode()); err != nil {
		if errors.Is(err, selector.ErrNotRegistered) {
			return ErrNotRegistered
		}
		return fmt.Errorf("peer: write record of %q: %w", p.ID(), err)
	}
	return nil
}

// ShutdownReason is the reason Leave gives.
const ShutdownReason = "shutdown"

// Leave leaves gracefully with the reason ShutdownReason; see LeaveBecause.
func (p *Peer) Leave(ctx context.Context) error { return p.LeaveBecause(ctx, ShutdownReason) }

// LeaveBecause leaves gracefully: it marks the record as leaving with
// reason (ShutdownReason if empty), and waits for etcd to acknowledge the
// write, so that every node can tell this leave from an expiry; then it
// closes the member, which revokes its lease. A watch shows a revoked lease
// and an expired one alike, a delete of the key: the marker, written
// before, is what tells them apart. Should the marker not be written (ctx
// ends, etcd is unreachable), the member is closed all the same, and the
// others see an expiry.
//
// Later calls, and a leave of a member that has ended by itself (Done is
// closed: etcd refused it, see Err), write nothing, wait for the close and
// return its result.
func (p *Peer) LeaveBecause(ctx context.Context, reason string) error {
	if reason == "" {
		reason = ShutdownReason
	}
	p.mu.Lock()
	first := !p.closed
	p.closed = true
	if first {
		p.rec.Leaving = reason
	}
	p.mu.Unlock()
	if !first {
		return p.close()
	}
	select {
	case <-p.done:
		// Nothing to mark: the member is no longer registered, and etcd
		// refused it anyway.
		return p.close()
	default:
	}
	werr := p.write(ctx)
	if werr != nil {
		p.log.Warn("leaving marker not written; the others will see an expiry", "err", werr)
	}
	return p.close()
}

// close closes the member without a marker, and waits for its last events
// to reach the table, which then closes its listeners.
func (p *Peer) close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.sel.Close()
	<-p.done
	return err
}

// Package selector makes a process a member of a group in etcd, and tells
// it, on a channel, whether it is master or slave and who else is in the
// group.
//
// A member registers itself at <prefix>/<id> with its own lease, keeps the
// lease alive, and follows the group with one watch, which the members of
// a group on one client share. The master is the live
// key with the smallest CreateRevision: the rule of etcd's
// concurrency.Election, so `etcdctl elect -l <prefix>` names the same master
// and an Election candidate on the same prefix is seen as a member (its id is
// the last segment of its key).
//
//	s, err := selector.New(ctx, cli, "/services/db", "db-1",
//		selector.WithValue("10.0.0.1:5432"))
//	if err != nil { ... }
//	defer s.Close()
//	for ev := range s.Events() {
//		switch ev.Type {
//		case events.InitMaster, events.ChangeToMaster:
//			go serve(s.MasterContext()) // ends when the mastership ends
//		...
//		}
//	}
//
// # Registration
//
// A member is in one of three states. INIT grants a lease and creates the
// key in a transaction that fails if the key exists; REFRESH keeps the lease
// alive; OFFLINE is no role at all. A member that loses its registration
// (its keep-alives go unanswered, etcd expires or revokes its lease, or its
// key is deleted) emits Offline, waits a backoff, and registers again, and
// its next view starts with InitMaster or InitSlave.
//
// An id is unique in its group while its key lives. A member that finds its
// id taken waits for the holder's lease to run out, so a member restarting
// right after a crash comes back. Only a holder that keeps its lease alive
// is a duplicate: New reads the lease's remaining TTL again and again, and
// returns ErrDuplicateID once the TTL has risen between two reads answered
// in the same raft term (etcd extends every lease when it elects a new
// leader, so a rise across terms proves nothing), or when the key is still
// held after twice the holder's TTL plus 5s. A key without a lease on the
// member's id never expires: New returns ErrDuplicateID at once, and a
// member re-registering after Offline retries until someone deletes it. A
// key on a lease whose TTL is over MaxTTL, which no member asks for, is
// ErrDuplicateID at once too.
//
// # Taking a registration back
//
// A member whose safe deadline passed without an acknowledged keep-alive
// (etcd unreachable, or this process frozen) emits Offline, but its
// registration may have survived in etcd: etcd restores every lease, with a
// fresh TTL, when it restarts or elects a leader. Before registering anew,
// the member sends keep-alives of its old lease, and nothing else, never a
// write to its key. When etcd acknowledges one and, in one read, its key is
// still on that lease with the CreateRevision it recorded, the registration
// is its own again: it emits InitMaster or InitSlave, with its place in the
// group and its epoch unchanged, since its key stayed first in line all
// along. If etcd answers that the lease is gone, the member registers anew;
// if the lease lives but the key is gone or on another lease, it revokes the
// lease and registers anew; if etcd answers for one TTL without
// acknowledging, it gives up and registers anew. Time during which etcd
// cannot be reached at all does not count, so after an outage of any length
// the master is the member that was master before, and no other member was
// master in between. Only a lease this process granted itself is taken back.
//
// While retrying, a member resets the reconnect backoff of its client's
// gRPC connection (grpc.ClientConn.ResetConnectBackoff), which otherwise
// grows to two minutes while etcd is down, so that it reaches etcd again
// within a fraction of its TTL and its restored lease does not run out. A
// client that other code shares needs nothing more; one built with a
// custom dial option that disables reconnection would defeat this.
//
// # Safety
//
// A member holds its mastership, at most, until its safe deadline: the send
// time of its last acknowledged keep-alive, plus the TTL etcd granted, minus
// a safety margin (WithSafetyMargin). At that instant, even when etcd is
// unreachable, its master context is cancelled and it goes offline. etcd
// cannot have expired the lease before then, and no other member becomes
// master before the lease expires, so two members are never master at the
// same time as long as the clocks of members and etcd drift apart by less
// than the margin over one TTL, and a process is not stalled for longer than
// the margin at the wrong moment.
//
// Nothing a member learns after its registration has ended is emitted or
// acted on: every event, every role change and every master context is
// checked, under the member's lock, against a live registration whose safe
// deadline has not passed by the clock, and Close has not begun. A process
// frozen past its deadline (a long stop-the-world pause, SIGSTOP, a
// suspended VM) wakes with its timers and its watch responses ready in no
// set order; its first event is then Offline, whatever the responses say,
// and only then does it take its registration back or register anew. The
// limits: Go's monotonic clock, which times the deadline, stops on Linux
// while the machine is suspended, so the deadline is also checked against
// the wall clock: a master woken from a suspension past its deadline ends
// its mastership at its next check (an event, MasterContext, IsMaster) and
// at the latest within a keep-alive interval, a quarter of the TTL, during
// which a master context handed out before the suspension may still look
// live. A virtual machine paused by its hypervisor, whose wall clock also
// lags until it is corrected, is not caught that way: don't pause machines
// that run masters, or fence with the epoch. And a process frozen between a
// check and the work it allows (a write already on its way) is covered only
// by Guard or the epoch.
//
// Do master-only work under MasterContext, which is cancelled at the exact
// moment the mastership ends, whether or not the event that says so has
// been read. For writes to etcd itself, Guard gives a comparison that makes a
// transaction commit only while this mastership lasts; Epoch gives the
// fencing token to hand to other stores.
//
// One case no deadline covers: someone deletes the master's key or revokes
// its lease by hand, or overwrites the key with a plain put (which detaches
// it from the lease). The old master and its successor then learn of it from
// the same watch event at about the same moment, and their masterships may
// overlap by the time each takes to handle it. Only Guard, or the epoch
// checked by the store, keeps their writes apart. Don't write under a
// group's prefix by hand.
//
// Epochs only grow as long as etcd's revisions do. Restoring etcd from a
// snapshot rolls its revisions back, so a new master can get an epoch that
// an earlier one already had; restore with etcdutl snapshot restore
// --bump-revision and --mark-compacted to keep epochs growing.
//
// # Events
//
// Events are delivered in order and never dropped: they wait in memory
// until read, so a slow reader never delays the keep-alives or the safe
// deadline. See the events package for the events and their order. After a
// watch fails (a compaction, a lost etcd leader, a closed stream), the
// group is read afresh and the member emits only the difference. A program that only
// asks a member (IsMaster, MasterContext, View) makes it WithoutEvents: then
// no event is kept, and Events is nil.
//
// Members of one group on one *clientv3.Client share one follower of the
// group: one snapshot, read in pages at one revision, one watch, and one
// view, which their events carry rather than copy. A change costs each
// member in proportion to the change, not to the group's size, and a
// member's memory does not grow with the group's. So the View of an event
// is shared with the member's other events and with the other members on
// its client: read it, never modify it (View.Clone gives a copy of one's
// own). The View method returns a copy. After a watch fails, the follower
// reads the group once for all of them.
//
// Close ends the mastership, emits one Offline, the last event, and then
// revokes the lease, so that a slave takes over at once rather than after
// the TTL; nothing from a view that arrives while closing is emitted. Yield
// hands the mastership to the next member and stays in the group as a
// slave; it either hands over or changes nothing (see Yield).
//
// # Permissions and TLS
//
// With etcd's authentication on, a member's user needs read and write
// permission on the range of its prefix, from "<prefix>/" to
// clientv3.GetPrefixRangeEnd of it, and nothing else:
//
//	etcdctl role grant-permission ROLE readwrite <prefix>/ --prefix
//
// Its transactions read and write its own key and read the group; the
// group's reads and watch read the range; etcd asks for write permission on a lease's keys to
// revoke the lease and, from the versions named below, to keep it alive,
// and read permission to tell its TTL. TLS and credentials are the client's
// (clientv3.Config's TLS, Username and Password); this package never sees
// or logs them. A TLS handshake that fails (an untrusted server
// certificate, a client certificate etcd refuses, a TLS client at a plain
// endpoint or a plain client at a TLS one) ends New at once with
// ErrTLSHandshake and gRPC's reason, rather than a retry until its context
// ends.
//
// A refusal by etcd is not retried, since it would come again: New returns
// at once an error wrapping ErrPermissionDenied or ErrAuthFailed, and etcd's
// own error, that names the refused request and its key or range. A running
// member refused later (its permission taken away, its user deleted, its
// password changed) emits Offline, and Events closes; Err says why. When
// depends on etcd's version, since a registered member sends nothing but
// keep-alives and its watch:
//
//   - etcd 3.7, 3.5 from 3.5.31 and 3.6 from 3.6.9 check permissions on
//     keep-alives (tested on 3.7, 3.5.36 and 3.6.17): the member ends
//     within a keep-alive interval.
//   - etcd 3.4 (tested on Debian's 3.4.23 for a revoked permission and a
//     deleted user), and earlier 3.5 and 3.6 releases (seen on 3.5.23 and
//     3.6.8), do not: the member stays registered, its lease renewed and its
//     watch delivering, and a slave may even become master. It ends at its next
//     request that etcd checks: a Yield, or the registration that follows
//     the loss of its key. To end it there, delete its key as root
//     (etcdctl del <prefix>/<id>) after taking the permission away.
//
// An expired or invalidated auth token is no refusal: clientv3
// authenticates again by itself, and the member carries on, or meets the
// true refusal.
//
// # Untrusted keys
//
// Whoever may write under the prefix may write anything there. Only keys
// attached to a lease are members: a key without one (an operator's
// etcdctl put) never expires, belongs to no live member, and would otherwise
// be master for ever, so it is left out of every view, and the member logs
// it once. This holds for a member's own key too: another writer's plain put
// detaches it from the member's lease, and the member has lost its
// registration (Offline; the cause is ErrKeyDetached), exactly when the
// others drop it from their views. concurrency.Election counts every key,
// leased or not; that is the one place where the two rules differ.
//
// A leased key counts as a member whatever its value or size, with the rest
// of the key as its id if that is valid UTF-8: a key nested deeper,
// <prefix>x/y, is member "x/y", as concurrency.Election counts it as a
// candidate, and since a member's own id has no "/", such a key never takes
// its place. The prefix itself names no member, nor does a key whose id is
// not valid UTF-8 (logged once). New refuses ids that are not valid UTF-8,
// and a prefix that covers the whole keyspace ("/"), with ErrInvalidConfig.
//
// A rolling upgrade from a version of this package that counted keys
// without a lease mixes the two rules. Both name the same master as long as
// no key without a lease under the prefix is older than the members' keys;
// before upgrading, list the prefix (etcdctl get --prefix -w json shows each
// key's lease) and delete any key whose lease is 0.
//
// # Observing a member
//
// Stats returns a snapshot of a member: its role, state, epoch and number of
// members, its counts of events by type and of resyncs, the round trip and
// the time of its last acknowledged keep-alive, and the time left before its
// safe deadline. The metrics package exports it to Prometheus, and the
// health package serves it as an HTTP health check and as gRPC's health
// service; this package imports neither Prometheus nor either of them.
// Logs go to the slog.Logger given with WithLogger, and nowhere by default.
//
// # Looking at a group without joining it
//
// Members reads a group once, and Observe follows it, without registering
// anything: for a program that only looks, such as an operator's command
// (cmd/mastership's members, leader and watch). Both apply the rules above,
// so that they name the members, and the master, that the members
// themselves see; a hand-written read of the prefix would count keys without
// a lease and ids that are not valid UTF-8. They need only read permission
// on the prefix's range.
package selector

// Package selector makes a process a member of a group in etcd, and tells
// it, on a channel, whether it is master or slave and who else is in the
// group.
//
// A member registers itself at <prefix>/<id> with its own lease, keeps the
// lease alive, and follows the group with one watch. The master is the live
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
// right after a crash comes back; if the key is still held after that, New
// returns ErrDuplicateID.
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
// Do master-only work under MasterContext, which is cancelled at the exact
// moment the mastership ends, whether or not the event that says so has
// been read. For writes to etcd itself, Guard gives a comparison that makes a
// transaction commit only while this mastership lasts; Epoch gives the
// fencing token to hand to other stores.
//
// # Events
//
// Events are delivered in order and never dropped: they wait in memory
// until read, so a slow reader never delays the keep-alives or the safe
// deadline. See the events package for the events and their order. After a
// watch fails (a compaction, a lost etcd leader, a closed stream), the member
// reads the group afresh and emits only the difference.
//
// Close revokes the lease, so that a slave takes over at once rather than
// after the TTL. Yield hands the mastership to the next member and stays in
// the group as a slave.
//
// # Permissions and TLS
//
// With etcd's authentication on, a member's user needs read and write
// permission on the range of its prefix, from "<prefix>/" to
// clientv3.GetPrefixRangeEnd of it, and nothing else:
//
//	etcdctl role grant-permission ROLE readwrite <prefix>/ --prefix
//
// Its transactions read and write its own key and read the group; its watch
// reads the range; etcd asks for write permission on a lease's keys to keep
// the lease alive or revoke it, and read permission to tell its TTL. TLS and
// credentials are the client's (clientv3.Config's TLS, Username and
// Password); this package never sees or logs them.
//
// A refusal by etcd is not retried, since it would come again: New returns
// at once an error wrapping ErrPermissionDenied or ErrAuthFailed, and etcd's
// own error, that names the refused request and its key or range. A running
// member refused later (its permission taken away, its user deleted, its
// password changed) emits Offline, and Events closes; Err says why. etcd
// checks permissions on each request, keep-alives included, so this
// happens within a keep-alive interval. An expired or invalidated auth
// token is no refusal: clientv3 authenticates again by itself, and the
// member carries on, or meets the true refusal.
//
// # Untrusted keys
//
// Whoever may write under the prefix may write anything there. Every key
// under it counts as a member, with the rest of the key as its id, whatever
// its bytes or size: a key nested deeper, <prefix>x/y, is member "x/y", as
// concurrency.Election counts it as a candidate, and since a member's own
// id has no "/", such a key never takes its place. The prefix itself names
// no member.
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
package selector

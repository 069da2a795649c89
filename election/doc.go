// Package election is leader election on etcd, compatible with etcd's
// concurrency package, with the faults of the usual recipe fixed.
//
// Candidates are keys under a prefix, attached to their session's lease,
// named as concurrency.Election names them; the leader is the
// earliest-created live candidate. A candidate of this package, a selector
// member, a plain concurrency.Election and `etcdctl elect` on the same
// prefix all take part in one and the same election, as long as nobody
// writes a key without a lease under it (see "Keys that are no
// candidates").
//
//	e, err := election.New(cli, "/services/scheduler", election.WithValue("host-1"))
//	if err != nil { ... }
//	err = e.Run(ctx, election.Callbacks{
//		OnStartedLeading: func(ctx context.Context) { schedule(ctx) }, // ctx ends with the leadership
//		OnStoppedLeading: func() { log.Print("no longer leading") },
//		OnNewLeader:      func(l election.Leader) { log.Print("leader: ", l.Value) },
//	})
//
// For those who prefer select, Observe delivers every change of leader on a
// channel.
//
// # What differs from the plain recipe
//
//   - A campaign ends when its session's lease ends. concurrency's Campaign
//     keeps waiting on an expired session and can return later as a leader
//     with a dead lease; here the campaign is cancelled, and Run starts a new
//     session and campaigns again, with backoff.
//   - Leadership ends at the safe deadline: the send time of the last
//     acknowledged keep-alive, plus the TTL etcd granted, minus a safety
//     margin. clientv3's keep-alive measures its deadline from the time a
//     response arrives and checks it once a second, so a leader relying on
//     it can outlive its lease; this one cannot, as long as clocks drift
//     apart by less than the margin over one TTL.
//   - "No leader" is reported. concurrency's Observe reports only puts, so a
//     leader that leaves without a successor goes unnoticed, and it closes
//     its channel on a compaction; Observe here reports the zero Leader, and
//     reads the election afresh after any watch failure.
//   - The default TTL is DefaultTTL (5s), not a minute.
//   - A leader whose key is deleted from outside, or detached from its
//     lease by another writer's plain put, stops leading.
//   - Nothing after the end. Once a leadership has ended (Run's ctx done,
//     Resign, the safe deadline passed, the key gone or detached), nothing
//     learned after it is acted on: every role change, IsLeader, Epoch,
//     Guard, and the start of every callback check, under the candidate's
//     lock, that the session lives and its safe deadline has not passed by
//     the clock. A process that wakes from a pause (SIGSTOP, a suspended
//     VM) past its deadline ends its leadership, OnStoppedLeading included,
//     before any other callback, and never starts one from news that waited
//     while it was paused. Once Run's ctx is done, OnNewLeader is called no
//     more, even for changes that were waiting to be reported.
//
// The one case no deadline covers: someone deletes the leader's key, or
// revokes its lease, by hand. The old leader and its successor learn of it
// from watch events at about the same moment; only Guard or the epoch keeps
// their writes apart.
//
// Leadership comes with a fencing token, Epoch (the CreateRevision of the
// leader's key), and Guard, a comparison that lets an etcd transaction
// commit only while the leadership lasts. Resign hands over at once; Proclaim
// changes the leader's value.
//
// # Permissions and TLS
//
// With etcd's authentication on, a candidate's user needs read and write
// permission on the range of its prefix, from "<prefix>/" to
// clientv3.GetPrefixRangeEnd of it, and nothing else:
//
//	etcdctl role grant-permission ROLE readwrite <prefix>/ --prefix
//
// etcd asks for write permission on a lease's keys to revoke the lease and,
// from the versions named below, to keep it alive. TLS and credentials are
// the client's (clientv3.Config). A TLS handshake that fails before Run's
// first lease (an untrusted server certificate, a client certificate etcd
// refuses, a TLS client at a plain endpoint or a plain client at a TLS one)
// ends Run at once with ErrTLSHandshake and gRPC's reason, rather than a
// silent retry.
//
// A refusal by etcd is not retried, since it would come again: Run ends and
// returns an error wrapping ErrPermissionDenied or ErrAuthFailed, and
// etcd's own error, that names the refused request and its range; Observe
// closes its channel. This happens at once at start. When a permission is
// taken away from a running candidate, or its user deleted, it happens
// within a keep-alive interval on etcd 3.7, 3.5 from 3.5.31 and 3.6 from
// 3.6.9, whose keep-alives check permissions (tested on 3.7, 3.5.36 and
// 3.6.17; 3.5.23 and 3.6.8 behave as 3.4 does).
// etcd 3.4 (tested on Debian's 3.4.23 for a revoked permission and a
// deleted user) renews the lease all the same: the candidate leads on, and
// Run goes on, until a request that etcd checks is refused, such as a
// Proclaim. An expired or invalidated auth token is no refusal: clientv3
// authenticates again by itself. A value over etcd's request limit
// (--max-request-bytes, 1.5 MiB by default) is refused at once too, with
// ErrValueTooLarge: by Run when it campaigns with it, by Proclaim otherwise.
//
// # Keys that are no candidates
//
// A candidate is a key under the prefix attached to a lease, whatever else
// it holds, including keys nested deeper and the prefix key itself, as in
// concurrency.Election. A key without a lease (an operator's `etcdctl put
// <prefix>/config`, or a candidate's key that another writer's plain put
// detached from its lease) is no candidate: it never expires, so it would
// lead for ever. Nor is a key whose id, the rest of the key after the
// prefix, is not valid UTF-8. This is where this package differs from
// concurrency.Election: a concurrency.Election (and `etcdctl elect`) would
// count such a key, name it leader if it is the oldest, and wait behind it
// for ever; Leader, Observe and Run here leave it out. A leader whose own
// key is detached from its lease has lost it, and stops leading.
package election

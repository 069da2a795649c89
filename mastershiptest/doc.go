// Package mastershiptest runs a real etcd cluster inside a test, with
// faults to put the code under test through, as net/http/httptest runs an
// HTTP server: a service that uses mastership proves its own failover
// against it, that its master work stops when mastership ends and that a
// new master picks up.
//
// The cluster is the etcd server this module is built against, embedded in
// the test's process, not a fake: leases expire, watches are compacted,
// leaders move as in production. NewCluster starts it in one line, one
// member by default or several WithMembers, on free ports of 127.0.0.1
// with its data in the test's temporary directory; WithSecure serves it
// over TLS with authentication, with users limited to a prefix
// (Cluster.AddPrefixUser), as production etcd runs.
//
//	func TestFailover(t *testing.T) {
//		c := mastershiptest.NewCluster(t, mastershiptest.WithMembers(3))
//		rec := mastershiptest.NewRecorder()
//		a, b := c.Members[0].Client(t), c.Members[1].Client(t)
//		// start two members of the service on a.Client and b.Client,
//		// reporting to rec ...
//		a.Cut() // a's master loses etcd for longer than its TTL
//		rec.Wait(t, "b at work", 10*time.Second, func() bool { return rec.Working("b") })
//		rec.Check(t) // a's work stopped before b's began
//	}
//
// # Checking what the members did
//
// A Recorder keeps the history of the group: each member's events, which
// Recorder.Follow records on their way from the selector to the service,
// and the spans of the service's own master work, which the service reports
// with Recorder.Begin, each with the epoch it ran under. Recorder.Check
// then fails the test if two members' work overlapped, if epochs went
// down, if two members were master at once by their events, or if a
// member's events do not replay to the views they carry; each failure
// shows the stretch of history around it. Recorder.Converged waits, once
// faults have stopped, until every member agrees with etcd. An election
// candidate reports its leadership as a span: Begin in OnStartedLeading,
// with the Election's Epoch, and its end once the callback's work stops.
//
// The same checker judges this repository's own chaos tests.
//
// # Faults
//
// Each Client reaches its member through a fault proxy of its own, so a
// fault cuts one process of the service off and leaves the others alone.
// Which fault suits a cut depends on its length against the TTL of the
// code under test:
//
//   - Client.Hold and Client.Release, for cuts shorter than the TTL: the
//     bytes wait and are delivered, as on a live TCP connection across a
//     real partition.
//   - Client.Cut and Client.Heal, for cuts longer than the TTL only: the
//     bytes are lost, which a real network does not do to a live
//     connection, but which is the same to code whose lease expired.
//   - Client.Delay, a slow network.
//
// A service that runs as processes of its own is tested the same way:
// each process dials the URL of a Member.Proxy, a fault proxy with a
// Client's faults, and, WithSecure, names the files of Cluster.TLSFiles in
// its TLS flags.
//
// etcd's own faults act on the cluster: Cluster.Stop and Cluster.Restart
// (an outage of the whole cluster, which comes back with its data),
// Member.Stop, Member.Kill and Member.Restart (one member of several down,
// shut down in order or crashed), Member.Isolate (a member partitioned from
// its peers), Cluster.MoveLeader, Cluster.Compact, and Cluster.RevokeLease
// and Cluster.RevokeLeaseOf (a session's lease expiring now).
//
// # Clean-up
//
// Everything made for a test is closed when it ends, by t.Cleanup, in the
// reverse order of its making: the clients, then their proxies, then the
// cluster, since clients are made after it. Close a client you made
// yourself, from Cluster.Config, before the cluster as well: with a client
// still open, an embedded server has been seen to take seconds to close.
//
// The members log nothing, hash passwords at bcrypt's least cost, and keep
// their data for the test alone. Linking the package links etcd's server
// into the test binary, whose packages register their Prometheus metrics
// in the default registry.
package mastershiptest

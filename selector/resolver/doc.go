// Package resolver routes gRPC calls to the master of a mastership group,
// or to its slaves: a google.golang.org/grpc/resolver Builder for targets
// mastership:///<prefix>, and a Directory that follows every group under a
// parent prefix.
//
//	b, err := resolver.NewBuilder(cli)
//	conn, err := grpc.NewClient("mastership:///services/db",
//		grpc.WithResolvers(b),
//		grpc.WithTransportCredentials(insecure.NewCredentials()))
//
// # Targets
//
// mastership:///<prefix> resolves to the master of the group at <prefix>,
// the etcd prefix a selector.New was given: the live key <prefix>/<id>
// with the smallest CreateRevision, exactly as the selector computes it
// (ids may contain "/"). mastership:///<prefix>?role=slave resolves to
// every slave, with round_robin; ?role=master is the default. The address
// is the member's value (selector.WithValue). A target with another scheme,
// an authority, an empty prefix, or another query key or role is an
// ErrInvalidTarget. The prefix is the target's path, so it starts with
// "/": a group whose prefix does not cannot be named.
//
// # How it follows the group
//
// A resolver reads the group, then watches it from the read's revision + 1,
// with clientv3.WithRequireLeader, as the selector does. When the watch
// fails (a compaction, an etcd member that lost its leader), it reads the
// group afresh after a short backoff and gives gRPC the new state, where
// etcd's own naming resolver stops updating. ResolveNow, which gRPC calls
// when a connection fails, makes it read afresh (at once, unless it is
// reading or backing off already).
//
// # No master, no slave, no address
//
// When the group has no master (or no slave, for role=slave), or the
// members asked for have no address, the resolver gives gRPC no address
// and reports an error naming the group (ErrNoMaster, ErrNoSlave,
// ErrNoAddress): calls fail at once with codes.Unavailable and a message
// such as "resolver: no master for /services/db", rather than go to a
// deposed master; calls made with grpc.WaitForReady(true) wait for a
// master instead. When a master appears, calls go to it. A master that
// crashed keeps its key, and so its address, until etcd expires its lease
// (about its TTL); calls meanwhile fail with gRPC's connection errors.
// The service config the resolver gives names two balancers this package
// registers,
// mastership_pick_first and mastership_round_robin, thin wrappers of
// gRPC's pick_first and round_robin that carry that error to the calls;
// a client dialled with grpc.WithDisableServiceConfig uses pick_first and
// gets gRPC's generic messages instead.
//
// When etcd cannot be read, the resolver reports ErrUnreachable and keeps
// the addresses it had, if any: the master it knew may well still serve.
// Whether a call reaches a master that has just been deposed is the
// master's business: it should serve only under its selector's
// MasterContext, and fence writes with its epoch.
//
// # Directory
//
// NewDirectory follows every group <parent>/<group>/<id> under a parent
// prefix with the same loop: Changes reports groups appearing,
// disappearing and changing master, in order and without dropping any;
// Groups is a snapshot; Conn returns a ready connection to a group's
// master, through a resolver, which the Directory owns and closes.
//
// Logging goes through log/slog (WithLogger) and is off by default.
package resolver

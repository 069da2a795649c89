// Package health reports whether a selector member or an election
// candidate is healthy, as an HTTP
// handler and as gRPC's standard health service (grpc.health.v1), for load
// balancers, orchestrators and service meshes.
//
// A member is healthy in one of two modes:
//
//   - Registered: while it is registered in its group, master or slave
//     (its State is REFRESH). A member that lost its keep-alives past its
//     safe deadline, or that is registering again, is not healthy.
//   - MasterOnly: only while it is master (IsMaster is true), so that a
//     load balancer sends traffic to the master alone.
//
// Both read the member's Status, which turns the moment the registration or the
// mastership ends, at the safe deadline even when etcd is unreachable; they
// keep no state of their own.
//
//	s, err := selector.New(ctx, cli, "/services/db", "db-1")
//	if err != nil { ... }
//	h, err := health.NewHandler(s, health.MasterOnly)
//	if err != nil { ... }
//	http.Handle("/healthz", h) // 200 on the master, 503 elsewhere
//
//	hs, err := health.NewServer(s, health.Registered, health.WithService("db"))
//	if err != nil { ... }
//	healthpb.RegisterHealthServer(grpcServer, hs)
//
// An *election.Election is a source too: it is registered while its Run
// has a live session, and master while it leads.
//
// A health check tells a router where the master was when it last looked:
// it cannot make two members' views agree at every instant, so it is no
// substitute for MasterContext, Guard and the epoch where writes must be
// fenced.
package health

// Package etcdtest is the testing layer over package localetcd, which runs
// real etcd servers in-process, on free loopback ports in a temporary
// directory: clusters started and stopped with a test (Start, StartCluster),
// clients closed with it, a shared cluster with a goroutine leak check
// (MainShared), and fault-injecting proxies between clients and servers.
// Nothing here is a fake of etcd. StartSecure starts one as production runs
// it: clients over TLS with certificates, and authentication with users
// limited to a prefix.
//
// Its Cluster and Member wrap localetcd's, adding what needs package testing
// or etcd's own types, which localetcd keeps out of its API: a member's
// embedded server (Member.Etcd).
//
// It is the engine of the public test kit, package mastershiptest: the kit's
// clusters, fault proxies and secure set-up are these, wrapped, so that
// each is written once. It stays apart,
// and internal, because the library's own packages test with it:
// mastershiptest imports selector (its Recorder follows a selector), so the
// tests inside package selector, and those of the packages below it, could
// not import mastershiptest. The examples, the chaos suite and users test
// with mastershiptest.
//
// Close clients before the cluster: with a client still open, an embedded
// server has been seen to take seconds to close. The testing helpers (Start,
// StartCluster, Client) register their clean-ups in that order.
package etcdtest

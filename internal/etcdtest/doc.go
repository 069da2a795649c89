// Package etcdtest starts real etcd servers in-process, on free loopback
// ports in a temporary directory, and puts fault-injecting proxies between
// clients and them. It is for tests and for the demo program: nothing here is
// a fake of etcd. StartSecure starts one as production runs it: clients
// over TLS with certificates, and authentication with users limited to a
// prefix.
//
// Close clients before the cluster: with a client still open, an embedded
// server has been seen to take seconds to close. The testing helpers (Start,
// StartCluster, Client) register their clean-ups in that order.
package etcdtest

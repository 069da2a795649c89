// Package localetcd runs a real etcd cluster inside the current process, for
// demos, examples and tests: the etcd server this module is built against
// (go.etcd.io/etcd/server/v3/embed), not a fake, listening on free ports of
// 127.0.0.1 only, with its data in a temporary directory.
//
//	c, err := localetcd.Start(ctx, localetcd.Config{})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints()})
//
// A cluster of several members (Config.Members) elects a leader and needs a
// majority of its members running to serve, as a production one does;
// Member.Stop, Member.Kill, Member.Restart, Member.Isolate and
// Cluster.Leader put it through outages.
//
// Close a cluster's clients before the cluster: with a client still open, an
// embedded server has been seen to take seconds to close.
//
// The cluster is meant for throwaway data and for this machine alone. It is
// silent: etcd's logs are discarded. Its members hash users' passwords at
// bcrypt's least cost, which is fast and weak. Linking this package links
// etcd's server into the program, whose packages register their Prometheus
// metrics in the default registry.
//
// The package imports neither package testing nor any test library, so
// programs, not only tests, may use it.
package localetcd

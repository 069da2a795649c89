// Package etcdflags gives every example program the same flags for reaching
// etcd: endpoints, client TLS and a user with a password, and turns them into
// a client. Member adds the flags of a program that joins one group
// (--prefix, --id, --ttl, --log-level), and Join says in one line why a
// member could not join at start-up.
//
// --endpoints is a comma-separated list of etcd's client addresses, each
// host:port, [IPv6]:port, http://host:port, https://host:port (the scheme
// says whether TLS is needed, as in etcd's own URLs) or unix://path and
// unixs://path for a Unix socket. Config refuses anything else at once, in
// one line naming the flag and the element (CheckEndpoints): clientv3 would
// take a malformed endpoint, "127.0.0.1" without its port say, and retry it
// for as long as it is given, as if etcd were down.
//
// The password is never taken on the command line, where any user of the
// machine can read it in the process list: it comes from a file
// (--password-file) or from the ETCD_PASSWORD environment variable. Nothing
// in this package logs or prints a password, a key or a certificate; its
// errors name files and flags, never their contents.
package etcdflags

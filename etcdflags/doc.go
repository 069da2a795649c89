// Package etcdflags gives every example program the same flags for reaching
// etcd: endpoints, client TLS and a user with a password, and turns them into
// a client. Member adds the flags of a program that joins one group
// (--prefix, --id, --ttl, --log-level; the TTL from 1s to lease.MaxTTL, an
// hour, checked by CheckTTL), and Join says in one line why a
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
// TLS is on when the first endpoint is https:// or unixs://, or when a TLS
// flag (--cacert, --cert, --key) is given and the first endpoint is
// host:port or unix://: clientv3 dials every endpoint as it dials the first,
// and dials http:// without TLS whatever the flags say. So Config refuses,
// naming both, a TLS flag with an http:// endpoint (the password would go in
// clear while the flags ask for TLS), and a list that mixes endpoints that
// want TLS with endpoints dialled without it. A user and password that
// would still go without TLS (no TLS flag and plain endpoints) are allowed,
// for a trusted network or a test, but Warning returns a one-line warning
// for the program to print on standard error.
//
// The password is never taken on the command line, where any user of the
// machine can read it in the process list: it comes from a file
// (--password-file) or from the ETCD_PASSWORD environment variable; a --user
// with a ":" in it (etcdctl's name:password) is refused by an error that
// shows nothing of the value. Nothing
// in this package logs or prints a password, a key or a certificate; its
// errors name files and flags, never their contents.
package etcdflags

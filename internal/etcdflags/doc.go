// Package etcdflags gives every example program the same flags for reaching
// etcd: endpoints, client TLS and a user with a password, and turns them into
// a client. Member adds the flags of a program that joins one group
// (--prefix, --id, --ttl, --log-level), and Join says in one line why a
// member could not join at start-up.
//
// The password is never taken on the command line, where any user of the
// machine can read it in the process list: it comes from a file
// (--password-file) or from the ETCD_PASSWORD environment variable. Nothing
// in this package logs or prints a password, a key or a certificate; its
// errors name files and flags, never their contents.
package etcdflags

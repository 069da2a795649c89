// Package etcdflags gives a command-line program built on this module the
// flags for reaching etcd, checks them before anything is dialled, and
// turns them into a client. The example programs use it; a program of your
// own that does gets the same flags, with the same meaning and the same
// errors, as they have.
//
// Register adds --endpoints, --cacert, --cert, --key, --user and
// --password-file to a flag.FlagSet; once the set is parsed, Flags.Client
// (or Flags.Config, for a program that makes the client itself) checks
// them and connects, and Flags.Warning says whether a password would go to
// etcd without TLS. RegisterMember adds the flags of a program that joins
// one group as one member (--prefix, --id, --ttl, --log-level), and
// Member.Check checks them: the TTL must be a whole number of seconds from
// 1s to selector.MaxTTL, as selector.WithTTL wants (CheckTTL). Join runs
// selector.New (or anything that calls it) at start-up and says in one
// line why the member could not join; JoinWait says how long to let it try.
// Refused tells, for any request the client made, an error that etcd will
// give again however often the request is repeated (its user lacks a
// permission, or is not accepted) from one worth a retry.
//
// Flags.UseEtcdctlEnv, which a program opts into after parsing, makes the
// flags not given on the command line take etcdctl's variables
// ($ETCDCTL_ENDPOINTS, $ETCDCTL_CACERT, $ETCDCTL_CERT, $ETCDCTL_KEY,
// $ETCDCTL_USER, which may be name:password, and $ETCDCTL_PASSWORD); the
// example programs do not, mastership run does.
//
// Every error about a flag is one line that starts with the flag's name
// (--endpoints, --ttl, and so on; the variable, such as $ETCDCTL_ENDPOINTS,
// for a value taken from one), so that a program can print it as it is,
// after its own name, and exit.
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
// (--password-file) or from the ETCD_PASSWORD environment variable
// (PasswordEnv); a --user with a ":" in it (etcdctl's name:password) is
// refused by an error that shows nothing of the value. Nothing in this
// package logs or prints a password, a key or a certificate; its errors
// name files and flags, never their contents.
//
// Parse and PrintUsage give such a program the command-line idiom of this
// module's own programs: -h and --help print the usage and every flag, with
// two dashes, and a bad flag is one line naming it with a hint.
package etcdflags

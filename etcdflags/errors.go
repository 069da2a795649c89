package etcdflags

import "errors"

// ErrTLSHandshake: Client could not connect because the TLS handshake with
// etcd failed in a way that retrying will not fix (a CA that did not sign
// etcd's certificate, a client certificate etcd refuses, a TLS client at a
// plain endpoint). The error that wraps it gives gRPC's reason.
var ErrTLSHandshake = errors.New("etcdflags: TLS handshake with etcd failed")

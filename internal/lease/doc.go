// Package lease grants an etcd lease and keeps it alive, and ends it at its
// safe deadline: the send time of the last acknowledged keep-alive, plus the
// TTL etcd granted, minus a safety margin.
//
// Why not clientv3's KeepAlive: it measures its deadline from the time a
// response is received, not the time the request was sent, and checks it
// once a second, so a holder that trusts it can go on believing it holds the
// lease for up to about a second after etcd has expired it. Here every
// keep-alive request's send time is kept (responses on one LeaseKeepAlive
// stream come back in order), and a timer, independent of any other
// goroutine, ends the lease at the safe deadline even when etcd is
// unreachable.
//
// etcd cannot expire the lease before the safe deadline: it sets the expiry
// to the time it processes a keep-alive plus the TTL, which is after the
// request was sent. That holds as long as the clocks of this process and of
// etcd drift apart by less than the margin over one TTL.
//
// The package is shared by the selector and election packages.
package lease

package etcdtest

import (
	"bytes"
	"encoding/binary"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/pkg/v3/proxy"
	"go.uber.org/zap"

	"github.com/seed764c596d/mastership/internal/localetcdhook"
)

// Proxy is a fault-injecting proxy between clients and one etcd member,
// built on etcd's own go.etcd.io/etcd/pkg/v3/proxy.
//
// It listens on a Unix socket rather than a TCP port: etcd's proxy listens
// on every interface when given a port, and tests must stay on this machine.
//
// It cuts traffic in two ways, and which one suits a cut depends on its
// length against the members' lease:
//
//   - Hold (until Release) stops the bytes in both directions and loses
//     none of them: what was held is delivered, in order, at the Release.
//     That is what a real partition does to a live TCP connection, which
//     retransmits until the path is back. Use it for cuts shorter than the
//     members' safe deadline, which they are meant to survive.
//   - Blackhole (until Heal) drops the bytes, in connections that stay
//     open: no real network loses bytes from a live TCP connection that
//     way, and a member that survived a blackhole would never learn what
//     its dropped watch responses said. Use it only for cuts longer than the
//     TTL, after which every member behind it has lost its registration and
//     reads the group afresh when it registers again.
//
// The proxy accepts new connections during either; their bytes are held or
// dropped like the others.
type Proxy struct {
	proxy.Server
	// Endpoint is the client endpoint that goes through the proxy.
	Endpoint string

	holdMu sync.Mutex
	held   bool
}

// NewProxy starts a proxy to the member's client URL for t, closed when t
// ends.
func (m *Member) NewProxy(t testing.TB) *Proxy {
	t.Helper()
	return ProxyTo(t, m.ClientURL)
}

// ProxyTo starts a proxy to clientURL (an etcd member's, embedded or a
// process of its own) for t, closed when t ends.
func ProxyTo(t testing.TB, clientURL string) *Proxy {
	t.Helper()
	// Unix socket paths are limited to about 100 bytes, and t.TempDir can be
	// longer than that, so the socket lives in a short directory of its own.
	dir, err := os.MkdirTemp("", "px")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// A TLS client of a Unix socket (scheme unixs) checks the server's
	// certificate for the socket's base name, and WriteCerts's certificates
	// name localhost.
	sock := filepath.Join(dir, "localhost")
	to, err := url.Parse(clientURL)
	if err != nil {
		t.Fatal(err)
	}
	s := proxy.NewServer(proxy.ServerConfig{
		Logger: zap.NewNop(),
		From:   url.URL{Scheme: "unix", Host: sock},
		To:     url.URL{Scheme: "tcp", Host: to.Host},
	})
	select {
	case <-s.Ready():
	case err := <-s.Error():
		t.Fatalf("start proxy: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("proxy not ready after 10s")
	}
	go DrainErrors(s)
	t.Cleanup(func() { s.Close() })
	return &Proxy{Server: s, Endpoint: "unix://" + sock}
}

// Client returns a client that reaches etcd only through the proxy, closed
// when t ends.
func (p *Proxy) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return Client(t, p.Endpoint)
}

// Blackhole drops all traffic in both directions until Heal.
//
// For cuts longer than the TTL only; see Proxy.
func (p *Proxy) Blackhole() {
	p.BlackholeTx()
	p.BlackholeRx()
}

// Heal undoes Blackhole and Delay.
func (p *Proxy) Heal() {
	p.UnblackholeTx()
	p.UnblackholeRx()
	p.UndelayTx()
	p.UndelayRx()
}

// Hold holds all traffic in both directions until Release, without
// dropping a byte: each direction of each connection stops after the chunk
// it has read, the kernel's socket buffers fill behind it, and the senders
// block, as behind a real partition. Release delivers what was held, in
// order. Hold while held does nothing.
//
// For cuts shorter than the safe deadline; see Proxy.
func (p *Proxy) Hold() {
	p.holdMu.Lock()
	defer p.holdMu.Unlock()
	if p.held {
		// etcd's proxy replaces its pause channel on every PauseTx: a second
		// one would strand the chunks waiting on the first for good.
		return
	}
	p.held = true
	p.PauseTx()
	p.PauseRx()
}

// Release ends Hold and delivers the held traffic. Release when not held
// does nothing.
func (p *Proxy) Release() {
	p.holdMu.Lock()
	defer p.holdMu.Unlock()
	if !p.held {
		return
	}
	p.held = false
	p.UnpauseTx()
	p.UnpauseRx()
}

// Held reports whether the proxy holds traffic.
func (p *Proxy) Held() bool {
	p.holdMu.Lock()
	defer p.holdMu.Unlock()
	return p.held
}

// Delay adds latency to traffic in both directions until Heal.
func (p *Proxy) Delay(d time.Duration) {
	p.DelayTx(d, 0)
	p.DelayRx(d, 0)
}

// DrainErrors reads and drops a proxy's errors until it is closed. The proxy
// blocks once 16 errors wait unread, and a fault test makes many (every
// connection it breaks).
func DrainErrors(s proxy.Server) {
	localetcdhook.DrainErrors(s)
}

// SpoilNext makes etcd fail the next request the client sends through the
// proxy whose gRPC message holds key (the bytes of a key it reads or
// writes), without running it and without breaking the connection: the
// proxy sets the message's compressed flag, which no compression was agreed
// for, and etcd's gRPC server answers that call alone with codes.Internal.
// Other requests pass. The returned function stops it and reports how many
// requests it spoiled: 1, or 0 if none held key.
//
// It finds the message within what it reads from the client at once, so
// it suits a small request sent alone, such as a transaction on one key.
func (p *Proxy) SpoilNext(key []byte) (stop func() int) {
	var (
		mu      sync.Mutex
		spoiled int
	)
	p.ModifyTx(func(data []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		if spoiled > 0 || !bytes.Contains(data, key) {
			return data
		}
		if i := grpcMessage(data, key); i >= 0 {
			spoiled++
			data = bytes.Clone(data)
			data[i] = 1 // the compressed flag
		}
		return data
	})
	return func() int {
		p.UnmodifyTx()
		mu.Lock()
		defer mu.Unlock()
		return spoiled
	}
}

// grpcMessage returns the index of the compressed flag of the gRPC message
// that holds key in data, a run of HTTP/2 frames from client to server, or
// -1. A DATA frame (a 9-byte header: 3 bytes of length, type 0, flags,
// stream) carries the message: the flag byte, the message's length (4
// bytes, big-endian), then the message.
func grpcMessage(data, key []byte) int {
	for i := 9; i+5 <= len(data); i++ {
		h := data[i-9:]
		frameLen := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		if h[3] != 0 || data[i] != 0 { // not a DATA frame, or compressed
			continue
		}
		msgLen := int(binary.BigEndian.Uint32(data[i+1 : i+5]))
		if frameLen != msgLen+5 || i+5+msgLen > len(data) {
			continue
		}
		if bytes.Contains(data[i+5:i+5+msgLen], key) {
			return i
		}
	}
	return -1
}

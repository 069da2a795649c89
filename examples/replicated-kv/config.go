package main

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/seed764c596d/mastership/selector"
)

// Defaults of config.
const (
	defaultTTL                = 5 * time.Second
	defaultReplicationTimeout = time.Second
)

// config is one server's configuration.
type config struct {
	// Prefix is the group's prefix in etcd, starting with "/" (the
	// resolver dials no other). Required.
	Prefix string
	// Name is this server's name, without "/" or "#". Required. Its member id
	// is Name#nonce, a new nonce for every process (an incarnation), since
	// its data lives in memory and dies with it.
	Name string
	// Listen is the address the gRPC server listens on. Default
	// 127.0.0.1:0, a free loopback port.
	Listen string
	// Advertise is the address the others dial, the member's value in etcd.
	// Default: the address listened on.
	Advertise string
	// OpsListen, when not "", is the address of an HTTP server for
	// operators: /metrics (the member's metrics, Prometheus' text format)
	// and /healthz (200 on the master only, as the gRPC health service).
	// Default "": none.
	OpsListen string
	// TTL of the member's lease, whole seconds. Default 5s.
	TTL time.Duration
	// ReplicationTimeout bounds each Sync call to a slave; a slave that
	// does not answer in time leaves the in-sync set. Default 1s.
	ReplicationTimeout time.Duration
	// UncleanWait is how long a new master that is not in the in-sync set
	// waits for an in-sync member to appear before it takes over anyway,
	// losing what only the lost in-sync members held. Default 2×TTL.
	UncleanWait time.Duration
	// Logger; default none.
	Logger *slog.Logger

	// syncHook, when set, runs before every Sync call this server receives;
	// an error fails the call. For tests.
	syncHook func(method string) error
	// yieldHook, when set, runs before every Yield of a term that is not
	// in sync; an error fails that Yield. For tests.
	yieldHook func() error
	// isrHook, when set, runs after each write of the in-sync set that
	// etcd applied; an error makes the term take the write as failed, as
	// when etcd's answer is lost. For tests.
	isrHook func() error
}

func (c *config) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", errInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Prefix == "" || c.Prefix == "/":
		return bad("prefix", "required")
	case !strings.HasPrefix(c.Prefix, "/"):
		// The resolver, and so every client, dials only a prefix that
		// starts with "/".
		return bad("prefix", "%q: must start with \"/\"", c.Prefix)
	case c.Name == "":
		return bad("name", "required")
	case strings.ContainsAny(c.Name, "/#"):
		return bad("name", "%q contains \"/\" or \"#\"", c.Name)
	case c.TTL < 0 || c.TTL > selector.MaxTTL || c.TTL%time.Second != 0:
		return bad("ttl", "%v: want whole seconds, from 1s to %v", c.TTL, selector.MaxTTL)
	case c.ReplicationTimeout < 0:
		return bad("replication-timeout", "%v: want more than 0", c.ReplicationTimeout)
	case c.UncleanWait < 0:
		return bad("unclean-wait", "%v: want 0 or more", c.UncleanWait)
	}
	if c.Advertise != "" {
		if _, _, err := net.SplitHostPort(c.Advertise); err != nil {
			return bad("advertise", "%q: want host:port: %v", c.Advertise, err)
		}
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.TTL == 0 {
		c.TTL = defaultTTL
	}
	if c.ReplicationTimeout == 0 {
		c.ReplicationTimeout = defaultReplicationTimeout
	}
	if c.UncleanWait == 0 {
		c.UncleanWait = 2 * c.TTL
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

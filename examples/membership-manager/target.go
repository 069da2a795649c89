package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Node is a worker as the target knows it: a host and a port.
type Node struct {
	Host string
	Port int
}

// String returns host:port, with brackets around an IPv6 host.
func (n Node) String() string { return net.JoinHostPort(n.Host, strconv.Itoa(n.Port)) }

// parseNode parses host:port, the value a worker registers with.
func parseNode(s string) (Node, error) {
	host, port, err := net.SplitHostPort(strings.TrimSpace(s))
	if err != nil {
		return Node{}, fmt.Errorf("%q: want host:port: %w", s, err)
	}
	return newNode(host, port)
}

// newNode checks a host and a port given apart.
func newNode(host, port string) (Node, error) {
	if host == "" {
		return Node{}, fmt.Errorf("empty host in %q", net.JoinHostPort(host, port))
	}
	if strings.ContainsAny(host, " \t\r\n/") {
		return Node{}, fmt.Errorf("host %q: must not contain spaces or \"/\"", host)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return Node{}, fmt.Errorf("port %q: want a number from 1 to 65535", port)
	}
	return Node{Host: host, Port: p}, nil
}

// A Target is the system whose list of nodes the master manager keeps equal
// to the list of live workers: a Citus coordinator, or anything a command can
// drive. Add and Remove must be idempotent in effect: the manager only adds a
// node List did not return and only removes one it did, but a call may be
// repeated after an error whose effect is unknown. Every call is bounded by
// its context, which ends when the mastership does.
type Target interface {
	// List returns the nodes the target has registered.
	List(ctx context.Context) ([]Node, error)
	// Add registers a node.
	Add(ctx context.Context, n Node) error
	// Remove unregisters a node. It must never delete the node's data: it
	// refuses, with an error that wraps errHoldsData, to remove a node that
	// still holds data the cluster has nowhere else.
	Remove(ctx context.Context, n Node) error
	// Close releases the target's resources.
	Close() error
}

// errHoldsData is wrapped by the error of a Remove that the target refused
// because the node still holds data it has nowhere else (for Citus, the only
// placement of a shard). The manager does not take it for a failure: it
// keeps the node, says so once, and tries again each --interval until the
// data has been moved away.
var errHoldsData = errors.New("the node still holds data")

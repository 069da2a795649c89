package resolver

import (
	"context"
	"fmt"
	"net/url"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/resolver"
)

// Scheme is the URL scheme of the targets a Builder resolves:
// mastership:///<prefix>.
const Scheme = "mastership"

// Role says which members of a group a target resolves to.
type role int

const (
	roleMaster role = iota // the master: one address, pick_first
	roleSlave              // every slave: round_robin
)

func (r role) String() string {
	if r == roleSlave {
		return "slave"
	}
	return "master"
}

// Builder builds the resolvers of mastership:/// targets; it implements
// google.golang.org/grpc/resolver.Builder. Give it to a client with
// grpc.WithResolvers, or register it for every client with
// resolver.Register. It is safe for concurrent use, and one Builder serves
// any number of clients and targets.
type Builder struct {
	cli  *clientv3.Client
	opts options
}

// NewBuilder returns a Builder whose resolvers read groups through cli.
// The caller keeps cli open while clients built with the Builder live.
func NewBuilder(cli *clientv3.Client, opts ...Option) (*Builder, error) {
	if cli == nil {
		return nil, invalid("client", "nil")
	}
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if o.dialSet {
		return nil, invalid("DialOptions", "for NewDirectory only")
	}
	return &Builder{cli: cli, opts: o}, nil
}

// Scheme returns Scheme.
func (b *Builder) Scheme() string { return Scheme }

// Build starts a resolver for target, which must be mastership:///<prefix>
// for the group's master or mastership:///<prefix>?role=slave for its
// slaves. It returns at once; the resolver reads the group in the
// background until gRPC closes it.
func (b *Builder) Build(target resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	prefix, r, err := parseTarget(target.URL)
	if err != nil {
		return nil, err
	}
	sc := cc.ParseServiceConfig(serviceConfig(r))
	if sc.Err != nil {
		return nil, fmt.Errorf("resolver: service config: %w", sc.Err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gr := &groupResolver{
		cc:     cc,
		cli:    b.cli,
		prefix: prefix,
		role:   r,
		sc:     sc,
		log:    b.opts.log.With("prefix", prefix, "role", r.String()),
		ctx:    ctx,
		cancel: cancel,
		now:    make(chan struct{}, 1),
		done:   make(chan struct{}),
		read:   b.opts.readTimeout,
	}
	go gr.run()
	return gr, nil
}

// parseTarget returns the group prefix and role of a target URL.
func parseTarget(u url.URL) (string, role, error) {
	bad := func(format string, args ...any) (string, role, error) {
		return "", 0, fmt.Errorf("%w %q: %s", ErrInvalidTarget, u.String(), fmt.Sprintf(format, args...))
	}
	if u.Scheme != Scheme {
		return bad("scheme %q, want %q", u.Scheme, Scheme)
	}
	if u.Opaque != "" {
		return bad("want %s:///<prefix>, with the prefix starting with /", Scheme)
	}
	if u.User != nil || u.Host != "" {
		return bad("authority %q: want none (%s:///<prefix>)", u.Host, Scheme)
	}
	if u.Fragment != "" {
		return bad("fragment %q: want none", u.Fragment)
	}
	if u.Path == "" || u.Path == "/" {
		return bad("empty group prefix: want %s:///<prefix>", Scheme)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query: %v", err)
	}
	r := roleMaster
	for k, vs := range q {
		if k != "role" {
			return bad("unknown query key %q: want only role", k)
		}
		if len(vs) != 1 {
			return bad("role given %d times", len(vs))
		}
		switch vs[0] {
		case "master":
			r = roleMaster
		case "slave":
			r = roleSlave
		default:
			return bad("role %q: want master or slave", vs[0])
		}
	}
	return u.Path, r, nil
}

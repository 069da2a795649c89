package mastershiptest

import "fmt"

// An Option changes the cluster NewCluster starts.
type Option interface {
	apply(*config)
}

// config is what the options set.
type config struct {
	members int
	secure  bool
	err     error // the first bad option's, reported by NewCluster
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithMembers makes the cluster n members, which elect a raft leader among
// themselves and serve while a majority of them runs, as a production
// cluster's do. The default is one member. n less than 1 fails the test.
func WithMembers(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.fail(fmt.Errorf("WithMembers(%d): want 1 or more members", n))
			return
		}
		c.members = n
	})
}

// WithSecure makes the cluster serve its clients as a production etcd
// does: over TLS only, with certificates made for this test alone, asking
// each client for a certificate signed by the test's CA, and with
// authentication on. Only RootUser exists at first; Cluster.AddPrefixUser
// adds users limited to a prefix, and the clients of Cluster.Client and
// Member.Client authenticate as RootUser.
func WithSecure() Option {
	return optionFunc(func(c *config) { c.secure = true })
}

func (c *config) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

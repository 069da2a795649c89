package mastershiptest

import "testing"

// RootPassword returns RootUser's password in a cluster started WithSecure,
// for Cluster.Config and Member.ClientAs. It fails the test without
// WithSecure.
func (c *Cluster) RootPassword(t testing.TB) string {
	t.Helper()
	c.needSecure(t, "RootPassword")
	return c.sec.RootPassword
}

// AddPrefixUser adds user, with password, to a cluster started WithSecure,
// and a role of its own that may read and write the keys under prefix and
// nothing else, as
//
//	etcdctl role grant-permission ROLE readwrite PREFIX/ --prefix
//
// grants: the range from prefix + "/" (a prefix ending in "/" is taken as
// it is) to its prefix range end. A service's members, limited so in
// production, are limited so in their tests with it.
func (c *Cluster) AddPrefixUser(t testing.TB, user, password, prefix string) {
	t.Helper()
	c.needSecure(t, "AddPrefixUser")
	c.sec.AddPrefixUser(t, user, password, prefix)
}

// RevokePrefix takes back the permission AddPrefixUser gave user on prefix,
// as an operator's mistake would: the user's calls on it fail with
// rpctypes.ErrPermissionDenied from then on.
func (c *Cluster) RevokePrefix(t testing.TB, user, prefix string) {
	t.Helper()
	c.needSecure(t, "RevokePrefix")
	c.sec.RevokePrefix(t, user, prefix)
}

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

// AddUser adds user, with password and no role, to a cluster started
// WithSecure: it may authenticate, and read or write nothing, as a user an
// operator made and forgot to grant a role. The service under test, run
// as it, shows what it does when etcd denies it every key.
func (c *Cluster) AddUser(t testing.TB, user, password string) {
	t.Helper()
	c.needSecure(t, "AddUser")
	c.sec.AddUser(t, user, password)
}

// TLSFiles are the PEM files with which a process reaches a cluster
// started WithSecure, made for the test alone and removed with its
// temporary directory. Their paths suit etcdctl's flags, and those of the
// programs that take the same.
type TLSFiles struct {
	// CAFile is the certificate of the CA that signed the members' and the
	// client's certificates: a process's --cacert.
	CAFile string
	// CertFile and KeyFile are a client certificate and its key, signed by
	// the CA, that the members ask for: a process's --cert and --key. The
	// certificate names no etcd user, so it grants nothing by itself: the
	// process authenticates with a user and password, RootUser's or one of
	// AddPrefixUser.
	CertFile, KeyFile string
}

// TLSFiles returns the paths of the CA file and of a client certificate
// and key, for a process of the service under test, which makes its own
// client of the cluster, started WithSecure. It fails the test without
// WithSecure, whose members take no TLS.
func (c *Cluster) TLSFiles(t testing.TB) TLSFiles {
	t.Helper()
	c.needSecure(t, "TLSFiles")
	return TLSFiles{CAFile: c.sec.CAFile, CertFile: c.sec.CertFile, KeyFile: c.sec.KeyFile}
}

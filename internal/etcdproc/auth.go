package etcdproc

import "testing"

// RootUser is the user with every permission after EnableAuth.
const RootUser = "root"

// EnableAuth adds RootUser with password and the root role, and turns
// authentication on, with the cluster's own etcdctl, as an operator would.
func (c *Cluster) EnableAuth(t testing.TB, password string) {
	t.Helper()
	c.MustCtl(t, "", "", "user", "add", RootUser, "--new-user-password", password)
	c.MustCtl(t, "", "", "user", "grant-role", RootUser, "root")
	c.MustCtl(t, "", "", "auth", "enable")
}

// RoleOf returns the name of the role AddPrefixUser makes for user.
func RoleOf(user string) string { return user + "-role" }

// AddPrefixUser adds user with password and a role of its own, RoleOf(user),
// with readwrite on prefix + "/" and the keys under it, and nothing else:
//
//	etcdctl role grant-permission ROLE readwrite PREFIX/ --prefix
//
// It runs the cluster's etcdctl as RootUser with rootPassword.
func (c *Cluster) AddPrefixUser(t testing.TB, rootPassword, user, password, prefix string) {
	t.Helper()
	role := RoleOf(user)
	c.MustCtl(t, RootUser, rootPassword, "user", "add", user, "--new-user-password", password)
	c.MustCtl(t, RootUser, rootPassword, "role", "add", role)
	c.MustCtl(t, RootUser, rootPassword, "role", "grant-permission", role, "readwrite", PrefixKey(prefix), "--prefix")
	c.MustCtl(t, RootUser, rootPassword, "user", "grant-role", user, role)
}

// RevokePrefix takes back, with etcdctl, the permission AddPrefixUser gave
// user on prefix.
func (c *Cluster) RevokePrefix(t testing.TB, rootPassword, user, prefix string) {
	t.Helper()
	c.MustCtl(t, RootUser, rootPassword, "role", "revoke-permission", RoleOf(user), PrefixKey(prefix), "--prefix")
}

// DeleteUser deletes user with etcdctl.
func (c *Cluster) DeleteUser(t testing.TB, rootPassword, user string) {
	t.Helper()
	c.MustCtl(t, RootUser, rootPassword, "user", "delete", user)
}

// PrefixKey returns a group's prefix with its trailing "/" (a prefix ending
// in "/" is taken as it is); its range ends at clientv3.GetPrefixRangeEnd of
// it.
func PrefixKey(prefix string) string {
	if prefix == "" || prefix[len(prefix)-1] != '/' {
		prefix += "/"
	}
	return prefix
}

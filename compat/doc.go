// Package compat holds the tests of the library against the etcd versions
// it supports, run on real etcd server processes (internal/etcdproc), and the
// same scenarios against the embedded etcd this module builds with
// (internal/etcdtest), so that what the docs say per version is backed by a
// test on each.
//
// The tests on processes are behind the build tag etcdcompat, so that a
// plain `go test ./...` never needs an etcd binary; they take the binary
// from $MASTERSHIP_ETCD (and etcdctl from $MASTERSHIP_ETCDCTL, or beside
// it), and fail without one. One command runs them all, on Debian's etcd
// 3.4 (installed by .ci/etcd.sh) and the 3.5 and 3.6 releases pinned in
// .ci/etcd-build.sh (built from the Go module proxy and cached outside the
// repository), one go test per version:
//
//	bash .ci/compat           # 3.4, 3.5 and 3.6
//	bash .ci/compat 3.6       # one version
//
// or, against a binary of your own:
//
//	MASTERSHIP_ETCD=/path/to/etcd go test -tags etcdcompat -count=1 -v ./compat/
//
// The subtests are named by the version etcd --version reports
// (TestPermissionProcess/etcd-3.6.17/...). .ci/run runs every test whose
// name ends in Process, and the cluster harness's own tests, on every
// version; TestElectKilled, which waits out etcdctl elect's fixed 60 s
// lease, runs with the whole suite only. docs/versions.md lists what the
// suite checks and what differs between versions.
//
// What a version does that another does not is decided by the version the
// server reports (see renewalChecksPermission), not by the binary's name.
package compat

// Package compat holds the tests of the library against the etcd versions
// it supports, run on real etcd server processes (internal/etcdproc), and the
// same scenarios against the embedded etcd this module builds with
// (internal/etcdtest), so that what the docs say per version is backed by a
// test on each.
//
// The tests on processes are behind the build tag etcdcompat, so that a
// plain `go test ./...` never needs an etcd binary; they take the binary
// from $MASTERSHIP_ETCD (and etcdctl from $MASTERSHIP_ETCDCTL, or beside
// it), and fail without one. With Debian's etcd-server and etcd-client
// packages installed (.ci/etcd.sh installs them):
//
//	MASTERSHIP_ETCD=/usr/bin/etcd go test -tags etcdcompat -count=1 ./compat/
//
// etcd 3.5 and 3.6, at the releases pinned in .ci/etcd-build.sh, are built
// from the Go module proxy and cached outside the repository; the script
// prints their directory. One go test per version:
//
//	dir=$(bash .ci/etcd-build.sh 3.6)
//	MASTERSHIP_ETCD=$dir/etcd go test -tags etcdcompat -count=1 -v ./compat/
//
// The subtests of the process scenarios are named by the version etcd
// --version reports (TestPermissionProcess/etcd-3.6.17/...). .ci/run runs
// them on 3.4, 3.5 and 3.6.
//
// What a version does that another does not is decided by the version the
// server reports (see renewalChecksPermission), not by the binary's name.
package compat

#!/usr/bin/env bash
# Builds etcd's server and etcdctl of one version from the Go module proxy
# for the compatibility tests in compat/, caches them by version outside the
# repository, and prints the directory that holds them (etcd and etcdctl):
#
#   dir=$(bash .ci/etcd-build.sh 3.5)     # the pinned 3.5 release
#   dir=$(bash .ci/etcd-build.sh 3.6.17)  # any release the proxy serves
#   MASTERSHIP_ETCD=$dir/etcd go test -tags etcdcompat -count=1 ./compat/
#
# Pinned releases: the latest patch release of each minor version that the
# Go module proxy serves for both go.etcd.io/etcd/server/v3 and
# go.etcd.io/etcd/etcdctl/v3 (checked with `go list -m -versions` on
# 2026-12-07). The latest, because a user of 3.5 or 3.6 who updates runs it,
# and it is the release etcd still fixes; both 3.5.36 and 3.6.17 are past
# the releases that made keep-alives check permissions (3.5.31, 3.6.9; see
# renewalChecksPermission in compat/). Bump them on purpose.
#
#   3.5 -> 3.5.36
#   3.6 -> 3.6.17
#
# `go install go.etcd.io/etcd/server/v3@VERSION` refuses the server module
# because its go.mod has replace directives; so the binaries are built from
# a throwaway module in a temporary directory that requires both modules at
# VERSION (replace directives of a dependency are ignored, and its requires
# name the same etcd release for api, client and pkg). The build takes one
# to two minutes per version on two cores; a second run finds the cached
# binaries, checks that they report VERSION, and builds nothing.
#
# Cache: ${MASTERSHIP_ETCD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mastership/etcd}/VERSION/
# Nothing but the directory goes to standard output.
set -euo pipefail

log() { echo "etcd-build.sh: $*" >&2; }

if [ $# -ne 1 ]; then
  log "usage: etcd-build.sh VERSION (3.5, 3.6, or MAJOR.MINOR.PATCH)"
  exit 2
fi
version=${1#v}
case "$version" in
3.5) version=3.5.36 ;;
3.6) version=3.6.17 ;;
esac
if ! [[ "$version" =~ ^3\.[0-9]+\.[0-9]+$ ]]; then
  log "version $1 is not 3.5, 3.6 or 3.MINOR.PATCH"
  exit 2
fi
minor=${version#3.}
minor=${minor%%.*}
if [ "$minor" -lt 5 ]; then
  # 3.4's server is not the module go.etcd.io/etcd/server/v3; Debian's
  # etcd-server package (.ci/etcd.sh) gives 3.4.
  log "etcd $version: only 3.5 and later are built here; .ci/etcd.sh installs 3.4"
  exit 2
fi

cache=${MASTERSHIP_ETCD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mastership/etcd}
dir=$cache/$version

# reports prints what the binaries in $1 say their versions are.
reports() {
  local ev cv
  ev=$("$1/etcd" --version 2>/dev/null | sed -n 's/^etcd Version: //p')
  cv=$("$1/etcdctl" version 2>/dev/null | sed -n 's/^etcdctl version: //p')
  echo "etcd $ev, etcdctl $cv"
}

if [ -x "$dir/etcd" ] && [ -x "$dir/etcdctl" ]; then
  got=$(reports "$dir")
  if [ "$got" = "etcd $version, etcdctl $version" ]; then
    log "cached: $got in $dir"
    echo "$dir"
    exit 0
  fi
  log "$dir holds $got, not $version: building again"
fi

work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
start=$(date +%s)
log "building etcd $version and etcdctl $version in $work"
(
  cd "$work"
  # The module's go line is the running Go's; should a release need a newer
  # Go than this one, GOTOOLCHAIN (auto by default) fetches it through the
  # module proxy as golang.org/toolchain. An older go line in etcd's go.mod
  # builds with a newer Go.
  go mod init mastership.invalid/etcd-build >&2 2>/dev/null
  go get "go.etcd.io/etcd/server/v3@v$version" "go.etcd.io/etcd/etcdctl/v3@v$version" >&2
  mkdir -p out
  # Static binaries, as etcd's releases are.
  CGO_ENABLED=0 go build -trimpath -o out/etcd go.etcd.io/etcd/server/v3 >&2
  CGO_ENABLED=0 go build -trimpath -o out/etcdctl go.etcd.io/etcd/etcdctl/v3 >&2
)
got=$(reports "$work/out")
if [ "$got" != "etcd $version, etcdctl $version" ]; then
  log "built binaries report $got, not $version"
  exit 1
fi
# Into the cache in one step, so that an interrupted run leaves no half.
mkdir -p "$cache"
rm -rf "$dir.tmp.$$"
mv "$work/out" "$dir.tmp.$$"
rm -rf "$dir"
mv "$dir.tmp.$$" "$dir"
log "built $got in $(($(date +%s) - start)) s: $dir"
echo "$dir"

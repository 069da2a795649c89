#!/usr/bin/env bash
# Installs Debian's etcd (packages etcd-server and etcd-client: 3.4.23 on
# bookworm) for the compatibility tests in compat/, and prints the shell line
# that points them at it:
#
#   etcd_env=$(bash .ci/etcd.sh)
#   eval "$etcd_env"
#
# Installing needs root (CI runs as root) and is done once: a second run
# finds the packages and installs nothing. The package's own service (etcd
# on 127.0.0.1:2379 with /var/lib/etcd) is never started: a policy-rc.d
# denies it during the install, and it is stopped and disabled after, should
# an init system have started it. The tests start their own servers on free
# ports with data directories of their own, whatever runs on 2379. Nothing
# but the printed line goes to standard output.
set -euo pipefail

log() { echo "etcd.sh: $*" >&2; }

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}\n' etcd-server etcd-client 2>/dev/null | grep -c '^installed$')" = 2 ]
}

if ! installed; then
  if [ "$(id -u)" != 0 ]; then
    log "etcd-server and etcd-client are not installed, and installing them needs root"
    exit 1
  fi
  log "installing etcd-server and etcd-client from Debian's packages"
  # Deny every service start while installing; put back whatever policy
  # was there before.
  policy=/usr/sbin/policy-rc.d
  saved=""
  if [ -e "$policy" ]; then
    saved=$(mktemp)
    cp -p "$policy" "$saved"
  fi
  restore() {
    if [ -n "$saved" ]; then
      cp -p "$saved" "$policy" && rm -f "$saved"
    else
      rm -f "$policy"
    fi
  }
  trap restore EXIT
  printf '#!/bin/sh\n# .ci/etcd.sh: no service starts while it installs etcd\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y --no-install-recommends etcd-server etcd-client >&2
  restore
  trap - EXIT
fi

# Should an init system run the package's service, stop it and keep it off.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  systemctl disable --now etcd.service >&2 2>/dev/null || true
elif [ -x /etc/init.d/etcd ] && [ "$(id -u)" = 0 ]; then
  /etc/init.d/etcd stop >&2 2>/dev/null || true
  update-rc.d etcd disable >&2 2>/dev/null || true
fi

for b in /usr/bin/etcd /usr/bin/etcdctl; do
  if [ ! -x "$b" ]; then
    log "$b missing after installing"
    exit 1
  fi
done
log "$(/usr/bin/etcd --version | head -n 1), $(ETCDCTL_API=3 /usr/bin/etcdctl version | head -n 1) ($(dpkg-query -W -f='${Version}' etcd-server))"
echo "export MASTERSHIP_ETCD=/usr/bin/etcd MASTERSHIP_ETCDCTL=/usr/bin/etcdctl"

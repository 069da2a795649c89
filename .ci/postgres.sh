#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the SQL test of
# examples/membership-manager, on a free loopback port, in a new temporary
# directory, and prints the shell lines that point the test at it:
#
#   pg_env=$(bash .ci/postgres.sh $$)
#   eval "$pg_env"
#
# The argument is the process id of the caller, whose server this is: the
# server outlives this script, and the next run stops and removes every
# server whose caller has ended, so that the script can run again and again
# on one machine, even by two callers at once. MASTERSHIP_TEST_PG_CTL names
# a script that stops and starts the server (stop|start). It installs PostgreSQL from
# Debian's packages when it is missing. Nothing but the printed lines goes to
# standard output. `bash .ci/postgres.sh stop` only does the clean-up.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

# Run as the postgres user when we are root (PostgreSQL refuses to run as
# root, and CI runs as root); as ourselves otherwise.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

bindir() {
  ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | xargs -r -n1 dirname | sort -V | tail -n 1
}

cleanup_old() {
  local d
  for d in /tmp/mastership-pg.*; do
    [ -d "$d" ] || continue
    if [ -f "$d/owner" ] && kill -0 "$(cat "$d/owner")" 2>/dev/null; then
      continue # its caller is still running
    fi
    if [ -f "$d/data/postmaster.pid" ] && [ -n "$(bindir)" ]; then
      log "stopping the server an earlier run left in $d"
      as_pg "$(bindir)/pg_ctl" -D "$d/data" -m immediate -w stop >&2 || true
    fi
    rm -rf "$d"
  done
}

cleanup_old
if [ "${1:-}" = stop ]; then
  exit 0
fi

if [ -z "$(bindir)" ]; then
  log "installing PostgreSQL from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y --no-install-recommends postgresql >&2
fi
bin=$(bindir)
if [ -z "$bin" ]; then
  log "no PostgreSQL found in /usr/lib/postgresql/*/bin after installing"
  exit 1
fi

owner=${1:-$PPID}
dir=$(mktemp -d /tmp/mastership-pg.XXXXXX)
echo "$owner" >"$dir/owner"
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$dir"
fi
chmod 0755 "$dir"
as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 || {
  cat "$dir/initdb.log" >&2
  exit 1
}

# A free port: try random ones until a server starts on one. The server
# listens on the loopback address only, and keeps its Unix socket in its own
# directory.
for _ in $(seq 1 20); do
  port=$((20000 + RANDOM % 40000))
  if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/data -c fsync=off" start >&2; then
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir"
    # $dir/ctl stop|start stops this server (fast shutdown) and starts it
    # again on the same port, as its owner: the worker's database test of
    # examples/membership-manager takes its database away and back.
    cat >"$dir/ctl" <<CTL
#!/usr/bin/env bash
# Stops or starts the throwaway PostgreSQL server in $dir (.ci/postgres.sh).
set -euo pipefail
case "\${1:-}" in
stop) mode=(stop -m fast) ;;
start) mode=(start -l "$dir/server.log" -t 30 -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/data -c fsync=off") ;;
*) echo "usage: \$0 stop|start" >&2; exit 2 ;;
esac
if [ "\$(id -u)" = 0 ]; then
  exec runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -w "\${mode[@]}"
fi
exec "$bin/pg_ctl" -D "$dir/data" -w "\${mode[@]}"
CTL
    chmod 0755 "$dir/ctl"
    echo "export MASTERSHIP_TEST_PG_DSN='postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable'"
    echo "export MASTERSHIP_TEST_PG_CTL='$dir/ctl'"
    echo "export MASTERSHIP_REQUIRE_PG=1"
    exit 0
  fi
  log "no server on port $port; trying another"
done
cat "$dir/server.log" >&2
exit 1

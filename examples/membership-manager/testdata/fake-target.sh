#!/bin/sh
# The command target of the tests. Its nodes are lines "HOST PORT" in the file
# $MEMBERSHIP_MANAGER_TEST_STATE; every call appends "UNIXNANO WHO CALL ARGS..."
# to $MEMBERSHIP_MANAGER_TEST_CALLS, WHO being $MEMBERSHIP_MANAGER_TEST_WHO (the
# manager that called); while the file $MEMBERSHIP_MANAGER_TEST_FAIL exists,
# every call fails. A node listed in the file $MEMBERSHIP_MANAGER_TEST_STATE.holds
# "holds data": removing it exits 75, as a real target's command would while
# the node still holds data. A lock makes each call atomic. The time is taken before the
# change, so it is never later than the change.
set -eu
state=$MEMBERSHIP_MANAGER_TEST_STATE
calls=$MEMBERSHIP_MANAGER_TEST_CALLS
who=${MEMBERSHIP_MANAGER_TEST_WHO:-?}
exec 9>>"$state.lock"
flock 9
record() { echo "$(date +%s%N) $who $*" >>"$calls"; }
if [ -e "$MEMBERSHIP_MANAGER_TEST_FAIL" ]; then
  record fail "$@"
  echo "injected failure" >&2
  exit 3
fi
case "${1:-}/$#" in
list/1)
  record list
  cat "$state"
  ;;
remove/3)
  if [ -e "$state.holds" ] && grep -qxF -- "$2 $3" "$state.holds"; then
    record refuse "$@"
    echo "fake-target: $2 $3 holds data" >&2
    exit 75
  fi
  record "$@"
  grep -vxF -- "$2 $3" "$state" >"$state.tmp" || true
  mv "$state.tmp" "$state"
  ;;
add/3)
  record "$@"
  grep -vxF -- "$2 $3" "$state" >"$state.tmp" || true
  if [ "$1" = add ]; then
    echo "$2 $3" >>"$state.tmp"
  fi
  mv "$state.tmp" "$state"
  ;;
*)
  echo "fake-target: bad arguments: $*" >&2
  exit 2
  ;;
esac

#!/usr/bin/env bash
# The seed's storage life across four boots of the VM on the same disk images
# (see test_seed_path.py): create + grow + fail with the daemon, reboot, power cut in the
# middle of a reshape, degraded boot. Called by tests/run.sh; exit 0 only if all passed.
#   OPSCTL_VM_RUNNER   the VM runner (default tests/vm/run-in-vm.sh)
#   PYTHON             the interpreter with opsctl and pytest (default .venv/bin/python)
#   OPSCTL_SEED_KEEP=1 keep the disk images and the state (for debugging a failed boot)
#   OPSCTL_SEED_FROM=N with OPSCTL_SEED_DISKS=DIR: start at boot N on kept images
#                      (copied first, so the kept set can be replayed)
set -uo pipefail
cd "$(dirname "$0")/../../.."
RUNNER=${OPSCTL_VM_RUNNER:-tests/vm/run-in-vm.sh}
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
PY=$(realpath -s "$(command -v "$PY")")
DISKS=$(mktemp -d /var/tmp/opsctl-seed-disks.XXXXXX)
FROM=${OPSCTL_SEED_FROM:-1}
export OPSCTL_SEED_DIR=$PWD/.vm-seed-state
if [ "$FROM" = 1 ]; then
  rm -rf "$OPSCTL_SEED_DIR"
else
  [ -d "${OPSCTL_SEED_DISKS:-}" ] || { echo "OPSCTL_SEED_FROM=$FROM needs OPSCTL_SEED_DISKS" >&2; exit 2; }
  cp --sparse=always "$OPSCTL_SEED_DISKS"/*.img "$DISKS"/
  [ -d "$OPSCTL_SEED_DISKS/state" ] && { rm -rf "$OPSCTL_SEED_DIR"; cp -a "$OPSCTL_SEED_DISKS/state" "$OPSCTL_SEED_DIR"; }
fi
mkdir -p "$OPSCTL_SEED_DIR"
if [ "${OPSCTL_SEED_KEEP:-0}" = 1 ]; then
  trap 'cp -a "$OPSCTL_SEED_DIR" "$DISKS/state"; echo "seed: disk images and state kept in $DISKS" >&2' EXIT
else
  trap 'rm -rf "$DISKS"' EXIT
fi

boot() {  # boot PHASE NDISKS
  local phase=$1 n=$2
  echo "== seed phase $phase ($n disks) ==" >&2
  (tail -n0 -F "$OPSCTL_SEED_DIR/progress.log" 2>/dev/null >&2 &
   echo $! > "$OPSCTL_SEED_DIR/.tail.pid")
  OPSCTL_SEED_PHASE=$phase bash "$RUNNER" -n "$n" -s 400M -m 1536M -t "${OPSCTL_SEED_TIMEOUT:-2400}" \
    --keep-disks --disk-dir "$DISKS" -- \
    "$PY" -m pytest -q -p no:cacheprovider -rs tests/vm/seed/test_seed_path.py
  local r=$?
  kill "$(cat "$OPSCTL_SEED_DIR/.tail.pid")" 2>/dev/null
  return $r
}

rc=0
[ "$FROM" -le 1 ] && { boot 1 5 || rc=1; }
if [ $rc = 0 ] && [ "$FROM" -le 2 ]; then
  boot 2 5
  r=$?
  # Phase 2 ends in a power-off mid-reshape: the runner reports the VM gone, not pytest.
  if [ ! -f "$OPSCTL_SEED_DIR/cut-at.txt" ]; then
    echo "seed phase 2 failed (rc $r) before the power cut" >&2
    rc=1
  else
    echo "seed phase 2: powered off at $(cat "$OPSCTL_SEED_DIR/cut-at.txt")% of the reshape" >&2
  fi
fi
[ $rc = 0 ] && [ "$FROM" -le 3 ] && { boot 3 5 || rc=1; }
# One member disk gone between boots: the VM gets the first four images only.
[ $rc = 0 ] && { boot 4 4 || rc=1; }
[ -f "$OPSCTL_SEED_DIR/alert-seconds.txt" ] &&
  echo "seed: degraded alert $(cat "$OPSCTL_SEED_DIR/alert-seconds.txt") s after the failure" >&2
[ $rc = 0 ] && echo "seed: all four boots passed" >&2
exit $rc

#!/usr/bin/env bash
# The seed's storage life across four boots of the VM on the same disk images
# (see test_seed_path.py): create + grow + fail with the daemon, reboot, power cut in the
# middle of a reshape, degraded boot. Called by tests/run.sh; exit 0 only if all passed.
#   OPSCTL_VM_RUNNER   the VM runner (default tests/vm/run-in-vm.sh)
#   PYTHON             the interpreter with opsctl and pytest (default .venv/bin/python)
set -uo pipefail
cd "$(dirname "$0")/../../.."
RUNNER=${OPSCTL_VM_RUNNER:-tests/vm/run-in-vm.sh}
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
PY=$(realpath -s "$(command -v "$PY")")
DISKS=$(mktemp -d /var/tmp/opsctl-seed-disks.XXXXXX)
export OPSCTL_SEED_DIR=$PWD/.vm-seed-state
rm -rf "$OPSCTL_SEED_DIR"
mkdir -p "$OPSCTL_SEED_DIR"
trap 'rm -rf "$DISKS"' EXIT

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
boot 1 5 || rc=1
if [ $rc = 0 ]; then
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
[ $rc = 0 ] && { boot 3 5 || rc=1; }
# One member disk gone between boots: the VM gets the first four images only.
[ $rc = 0 ] && { boot 4 4 || rc=1; }
[ -f "$OPSCTL_SEED_DIR/alert-seconds.txt" ] &&
  echo "seed: degraded alert $(cat "$OPSCTL_SEED_DIR/alert-seconds.txt") s after the failure" >&2
[ $rc = 0 ] && echo "seed: all four boots passed" >&2
exit $rc

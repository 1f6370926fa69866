#!/usr/bin/env bash
# The test command (see README): the host suite, then the real-storage suite inside a VM.
#   tests/run.sh            everything
#   tests/run.sh host       host suite only (unit + SNMP/SSH/daemon integration)
#   tests/run.sh vm         storage suite in the VM only
set -uo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
rc=0

pytest_rc() {  # pytest exits 5 when it collected nothing; that is not a failure here
  local r=$1
  [ "$r" = 5 ] && r=0
  return "$r"
}

if [ "$what" = all ] || [ "$what" = host ]; then
  python3 -m pytest -q tests --ignore=tests/vm
  pytest_rc $? || rc=1
fi

if [ "$what" = all ] || [ "$what" = vm ]; then
  VM=${OPSCTL_VM_RUNNER:-../shared/vm/run-real-storage.sh}
  if [ -f "$VM" ] && [ -d tests/vm ]; then
    bash "$VM" -n 5 -s 400M -m 1536M -t 1800 -- python3 -m pytest -q -p no:cacheprovider tests/vm
    pytest_rc $? || rc=1
  else
    echo "tests/run.sh: no VM runner at $VM; storage VM suite not run" >&2
    [ "$what" = vm ] && rc=1
  fi
fi
exit $rc

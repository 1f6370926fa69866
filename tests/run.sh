#!/usr/bin/env bash
# The test command (see README): the host suite, then the real-storage suite inside a VM.
#   tests/run.sh --install       install what the tests need (tests/setup.sh), then run all
#   tests/run.sh [--install] host   host suite only (unit + SNMP/SSH/daemon integration)
#   tests/run.sh [--install] vm     storage suite in the VM only (tests/vm/run-in-vm.sh)
#   tests/run.sh                 everything, with what is already installed
# Runs as root on a Debian 12 machine (apt-get, the VM). Any skip other than one for
# hardware a CI machine cannot have fails the run (OPSCTL_REQUIRE_ALL=1, tests/conftest.py).
set -uo pipefail
cd "$(dirname "$0")/.."

install=0 what=all
for a in "$@"; do
  case $a in
    --install) install=1 ;;
    host|vm|all) what=$a ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "tests/run.sh: unknown argument $a (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$install" = 1 ]; then
  if [ "$what" = host ]; then bash tests/setup.sh --no-vm; else bash tests/setup.sh; fi \
    || { echo "tests/run.sh: tests/setup.sh failed" >&2; exit 1; }
fi
PY=$PWD/.venv/bin/python
[ -x "$PY" ] || { echo "tests/run.sh: no test environment (.venv): run tests/run.sh --install" >&2; exit 1; }
export PATH="$PWD/.venv/bin:$PATH"          # the tests run the installed `opsctl`
export OPSCTL_REQUIRE_ALL=${OPSCTL_REQUIRE_ALL:-1}
rc=0
summary=()

# pytest exits 5 when it collected nothing: not a failure for an empty selection here.
check() {  # name, status
  local r=$2
  [ "$r" = 5 ] && r=0
  if [ "$r" = 0 ]; then summary+=("$1: ok"); else summary+=("$1: FAILED (exit $2)"); rc=1; fi
}

if [ "$what" = all ] || [ "$what" = host ]; then
  "$PY" -m pytest -q tests --ignore=tests/vm
  check "host suite" $?
fi

if [ "$what" = all ] || [ "$what" = vm ]; then
  ignore=()
  [ -d tests/vm/seed ] && ignore=(--ignore=tests/vm/seed)
  # One boot for the whole suite (TCG: ~10 s boot, seconds per LVM command).
  bash tests/vm/run-in-vm.sh -n 5 -s 400M -m 1536M -t 1800 -- \
    "$PY" -m pytest -q -p no:cacheprovider tests/vm "${ignore[@]}"
  check "VM suite" $?
  if [ -f tests/vm/seed/run-seed.sh ]; then
    OPSCTL_VM_RUNNER=tests/vm/run-in-vm.sh bash tests/vm/seed/run-seed.sh
    check "VM seed scenario" $?
  fi
fi

printf 'tests/run.sh: %s\n' "${summary[@]}"
exit $rc

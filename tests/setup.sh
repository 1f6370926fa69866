#!/usr/bin/env bash
# Install everything the test suites need on a Debian 12 machine, from a fresh clone:
#   1. system packages (apt-get; needs root): SNMP agents, sshd, NUT, chrony, ... and, for
#      the storage suite, qemu + Debian's cloud kernel + mdadm/LVM (tests/vm/run-in-vm.sh);
#   2. the project's test environment: .venv in the repository with `pip install -e '.[test]'`;
#   3. tool environments that cannot live in .venv, under $OPSCTL_TEST_CACHE
#      (default /var/cache/opsctl-test as root, ~/.cache/opsctl-test otherwise):
#        snmpsim/  snmpsim for root runs: it refuses to run as root and drops to `nobody`,
#                  so its interpreter and venv must be readable by nobody (a clone under
#                  /root, or a pyenv Python, is not); built from /usr/bin/python3.
#        vm/       virtme-ng (boots the storage VM) and a virtiofsd adapter.
# Idempotent: a second run checks and returns in about a second.
#
#   tests/setup.sh            everything
#   tests/setup.sh --no-vm    skip what only the VM suite needs (qemu, kernel, virtme-ng)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

with_vm=1
for a in "$@"; do
  case $a in
    --no-vm) with_vm=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "tests/setup.sh: unknown argument $a (see --help)" >&2; exit 2 ;;
  esac
done

log() { printf '[setup] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Keep these versions in step with tests/helpers/snmp_agents.py and tests/vm/run-in-vm.sh,
# which read the environments built here.
SNMPSIM_REQ=('snmpsim>=1.1' 'pysmi>=1.5')
VIRTME_NG_REQ='virtme-ng==1.42'
if [ "$(id -u)" = 0 ]; then
  CACHE=${OPSCTL_TEST_CACHE:-/var/cache/opsctl-test}
else
  CACHE=${OPSCTL_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/opsctl-test}
fi

# --------------------------------------------------------------------------- apt ----
APT_PKGS=(
  python3 python3-venv     # the test venv and snmpsim's venv (from /usr/bin/python3)
  snmpd snmp               # net-snmp agent (fleet, v3) and reference client
  openssh-server           # private sshd for remote checks and shutdown plans
  openssh-client           # ssh-keygen for test keys
  sqlite3                  # tamper tests edit the store with the sqlite3 tool
  postgresql               # a throw-away cluster per test run (tests/helpers/pg_cluster.py)
  tzdata                   # site time zones (zoneinfo) for the roster and duty log
  tmux                     # manual-answer test through a real TTY
  smartmontools            # smartctl for the SMART check
  chrony                   # chronyc + a private chronyd (-x) for the clock_sync check
  openssl                  # self-signed certificate for the SMTP STARTTLS alert test
  libfaketime              # clock steps under the running daemon (tests/adversarial)
  nut-snmp nut-client nut-server  # NUT snmp-ups + upsd + upsc as reference readers
  systemd                  # systemd-analyze verify for the units
  zsh fish                 # opsctl completion scripts run in the real shells
  groff-base               # the generated man page must format without warnings
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0  # WeasyPrint (PDF sheets)
  fonts-noto-cjk           # Chinese text in the PDF sheets (embedded Noto Sans CJK)
  poppler-utils            # pdftotext/pdfinfo/pdffonts read the PDF sheets back in tests
  chromium                 # the HTML reports opened in a real headless browser (DOM, screenshot)
  iproute2 procps kmod     # ip (ip_baseline check), ps/pkill, modprobe
  e2fsprogs xfsprogs util-linux
  mdadm lvm2               # storage: the unit layer parses their output, the VM runs them
)
VM_PKGS=(
  qemu-system-x86          # the storage VM (TCG when there is no usable KVM)
  linux-image-cloud-amd64  # guest kernel with md (raid456) and device-mapper
  busybox-static           # virtme-ng's guest init uses it
  udev                     # /dev/disk/by-id links for the VM's disks
)
[ "$with_vm" = 1 ] && APT_PKGS+=("${VM_PKGS[@]}")

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]}; run as root, or: sudo apt-get install ${missing[*]}"
  log "apt-get install ${missing[*]} ..."
  # INITRD=No: no host initramfs for the guest kernel (virtme-ng builds its own per boot).
  export DEBIAN_FRONTEND=noninteractive INITRD=No
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install failed"
fi
# Debian's postinst starts the packaged snmpd (UDP 161) right after installing it; the
# tests run their own agents on high ports. Stop the one this run started, nothing else.
if [[ " ${missing[*]} " == *" snmpd "* ]]; then
  if command -v systemctl >/dev/null && systemctl is-active -q snmpd 2>/dev/null; then
    systemctl stop snmpd || true
  elif [ -s /run/snmpd.pid ]; then
    kill "$(cat /run/snmpd.pid)" 2>/dev/null || true
  fi
fi

# ------------------------------------------------------------------ project .venv ----
# Reinstalled only when pyproject.toml changed since the last install (the stamp).
stamp_of() { sha256sum "$@" | sha256sum | cut -c1-16; }
want=$(stamp_of pyproject.toml)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.opsctl-setup 2>/dev/null)" != "$want" ] \
   || ! .venv/bin/python -c 'import opsctl, pytest, snmpsim' 2>/dev/null; then
  log "creating .venv (pip install -e '.[test]') ..."
  [ -x .venv/bin/python ] || python3 -m venv .venv || die "python3 -m venv failed (apt-get install python3-venv)"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]' || die "pip install -e '.[test]' failed"
  echo "$want" > .venv/.opsctl-setup
fi

# ------------------------------------------------------- snmpsim for root (nobody) ----
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"   # two clones setting up at once share one cache
flock 9
# A venv records its own absolute path in its scripts: build it where it stays.
ensure_venv() {  # dir, then pip requirements; rebuilt when the requirements change
  local dir=$1; shift
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.opsctl-setup" 2>/dev/null)" = "$*" ]; then
    return 0
  fi
  log "building $dir ($*) ..."
  rm -rf "$dir"
  /usr/bin/python3 -m venv "$dir" || die "/usr/bin/python3 -m venv $dir failed"
  "$dir/bin/pip" install -q --disable-pip-version-check "$@" || die "pip install $* failed"
  echo "$*" > "$dir/.opsctl-setup"
}
if [ "$(id -u)" = 0 ]; then
  ensure_venv "$CACHE/snmpsim" "${SNMPSIM_REQ[@]}"
  # nobody must reach it: every directory on the path searchable, the venv readable.
  chmod a+rx "$CACHE"
  chmod -R a+rX "$CACHE/snmpsim"
fi

# ------------------------------------------------------------- the storage VM ----
if [ "$with_vm" = 1 ]; then
  ensure_venv "$CACHE/vm" "$VIRTME_NG_REQ"
  compgen -G "/lib/modules/*-cloud-amd64/kernel/drivers/md/raid456.ko*" >/dev/null \
    || die "no Debian cloud kernel with md modules under /lib/modules (apt-get install linux-image-cloud-amd64)"
fi
flock -u 9
log "ready (test venv .venv, tool cache $CACHE)"

#!/usr/bin/env bash
# The project's VM runner for the real-storage suite: boots Debian's cloud kernel (md,
# raid456, device-mapper, ext4, xfs) under qemu with virtme-ng, attaches N blank virtual
# disks, runs ONE command in the caller's working directory and exits with its status.
#
# The development and CI kernels have no md and no device-mapper, so mdadm and LVM can
# only really run in a VM. The guest sees the host's root filesystem (virtme-ng): host
# programs (the project's .venv, mdadm, lvm, ...) run in it unchanged. The caller's
# working directory is shared read-write; /etc /tmp /var /usr /home /opt /srv /mnt /root
# /media are in-memory overlays dropped at power-off, so tests may edit /etc/fstab and
# /etc/mdadm/mdadm.conf freely.
#
# Usage: tests/vm/run-in-vm.sh [options] [--] COMMAND [ARGS...]
#   -n, --disks N        blank disks to attach (default 4)
#   -s, --disk-size SZ   size of each new disk image, truncate(1) syntax (default 256M;
#                        mkfs.xfs refuses filesystems under 300 MB)
#   -m, --memory SZ      guest RAM (default 1G)
#   -c, --cpus N         guest vCPUs (default: host cores, at most 4)
#   -t, --timeout SECS   stop the VM after SECS (exit 124); 0 = no limit (default)
#       --disk-dir DIR   keep the disk images in DIR (opsctl-diskN.img); images already
#                        there are reused as they are, missing ones are created blank —
#                        so a later boot sees the same disks ("reboot"), and deleting one
#                        image gives a blank replacement disk in that slot
#       --keep-disks     do not delete the images afterwards (default with --disk-dir;
#                        without it a temporary directory is kept and printed)
#       --skip-disk N    leave slot N empty on this boot (repeatable): the disk is
#                        "pulled"; its image stays in --disk-dir for a later boot
#       --rwdir DIR      also share host DIR read-write (repeatable)
#       --qemu-opts STR  extra qemu options, split on spaces (e.g. another kind of disk)
#       --accel auto|kvm|tcg  (default auto: KVM only when it can run a stock kernel)
#   -v, --verbose        show the guest kernel console on stderr
#   -h, --help
#
# Inside the VM the command runs as root in the caller's working directory, with the
# caller's environment plus:
#   VMRAID_IN_VM=1
#   VMRAID_DISKS="/dev/vda /dev/vdb ..."   the attached disks, in slot order
#   VMRAID_DISK0, VMRAID_DISK1, ...         one per attached slot (a skipped slot is unset)
#   /dev/disk/by-id/virtio-opsctl-diskN     stable name of slot N's disk
# Exit status: the command's; 124 timeout; 125 the runner itself failed (its own messages
# start with "[run-in-vm]").
#
# Needs root (qemu, virtiofs export of /) and what tests/setup.sh installs: the qemu,
# linux-image-cloud-amd64, busybox-static and udev packages, and virtme-ng in
# $OPSCTL_TEST_CACHE/vm (default /var/cache/opsctl-test/vm). OPSCTL_VM_KERNEL overrides
# the guest kernel image.
set -uo pipefail

ndisks=4 disksize=256M memory=1G timeout=0 accel=auto verbose=0 keep=0 diskdir=
cpus=$(nproc); [ "$cpus" -gt 4 ] && cpus=4
declare -A skip=()
rwdirs=() extra_qemu=()

log() { printf '[run-in-vm] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 125; }
usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
need_arg() { [ $# -ge 2 ] || die "$1 needs a value (see --help)"; }
int_arg() { [[ $2 =~ ^[0-9]+$ ]] || die "$1 wants a whole number, not '$2'"; }

while [ $# -gt 0 ]; do
  case $1 in
    -n|--disks) need_arg "$@"; int_arg "$1" "$2"; ndisks=$2; shift 2 ;;
    -s|--disk-size) need_arg "$@"; disksize=$2; shift 2 ;;
    -m|--memory) need_arg "$@"; memory=$2; shift 2 ;;
    -c|--cpus) need_arg "$@"; int_arg "$1" "$2"; cpus=$2; shift 2 ;;
    -t|--timeout) need_arg "$@"; int_arg "$1" "$2"; timeout=$2; shift 2 ;;
    --disk-dir) need_arg "$@"; diskdir=$(realpath -m -- "$2"); keep=1; shift 2 ;;
    --keep-disks) keep=1; shift ;;
    --skip-disk) need_arg "$@"; int_arg "$1" "$2"; skip[$2]=1; shift 2 ;;
    --rwdir) need_arg "$@"; rwdirs+=("$(realpath -m -- "$2")"); shift 2 ;;
    --qemu-opts) need_arg "$@"; read -ra more <<<"$2"; extra_qemu+=("${more[@]}"); shift 2 ;;
    --accel) need_arg "$@"; accel=$2; shift 2 ;;
    -v|--verbose) verbose=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { usage >&2; exit 125; }
[ "$(id -u)" = 0 ] || die "must run as root (qemu and the virtiofs export of /)"

CACHE=${OPSCTL_TEST_CACHE:-/var/cache/opsctl-test}
VNG=$CACHE/vm/bin/vng
[ -x "$VNG" ] || die "virtme-ng is not installed in $CACHE/vm: run tests/setup.sh"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: run tests/setup.sh"

# The guest kernel: the newest Debian cloud kernel (small, boots fast), else the newest
# kernel that has the md RAID modules at all.
guest_kernel() {
  if [ -n "${OPSCTL_VM_KERNEL:-}" ]; then echo "$OPSCTL_VM_KERNEL"; return; fi
  local img ver cloud='' other=''
  for img in $(ls -1v /boot/vmlinuz-* 2>/dev/null); do
    ver=${img#/boot/vmlinuz-}
    compgen -G "/lib/modules/$ver/kernel/drivers/md/raid456.ko*" >/dev/null || continue
    case $ver in *-cloud-amd64) cloud=$img ;; *) other=$img ;; esac
  done
  echo "${cloud:-$other}"
}
KERNEL=$(guest_kernel)
[ -n "$KERNEL" ] && [ -r "$KERNEL" ] \
  || die "no guest kernel with md modules in /boot: run tests/setup.sh (linux-image-cloud-amd64)"

# KVM only when it can really run a stock kernel. Some hosts expose /dev/kvm through PVM
# (kvm_pvm), which runs only PVM-aware guests: a Debian kernel dies there with a KVM
# emulation failure, so treat it as no KVM.
kvm_works() {
  [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] \
    && grep -qwE 'vmx|svm' /proc/cpuinfo
}
case $accel in
  auto) if kvm_works; then accel=kvm; else accel=tcg; fi ;;
  kvm|tcg) ;;
  *) die "--accel is auto, kvm or tcg, not '$accel'" ;;
esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/opsctl-vm.XXXXXX") || die "mktemp failed"
if [ -z "$diskdir" ]; then
  if [ "$keep" = 1 ]; then
    diskdir=$(mktemp -d "${TMPDIR:-/tmp}/opsctl-vm-disks.XXXXXX") || die "mktemp failed"
  else
    diskdir=$WORK/disks
  fi
fi
mkdir -p "$diskdir" || die "cannot create $diskdir"

vm_group=
finish() {
  if [ -n "$vm_group" ] && kill -0 -- "-$vm_group" 2>/dev/null; then
    kill -TERM -- "-$vm_group" 2>/dev/null; sleep 1; kill -KILL -- "-$vm_group" 2>/dev/null
  fi
  if [ "$keep" = 1 ]; then
    log "disk images kept in $diskdir"
  else
    rm -f "$diskdir"/opsctl-disk*.img
  fi
  rm -rf "$WORK"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------- disks ----
qemu_opts=() slots=()
for ((i = 0; i < ndisks; i++)); do
  [ -n "${skip[$i]:-}" ] && continue
  img=$diskdir/opsctl-disk$i.img
  [ -e "$img" ] || truncate -s "$disksize" "$img" || die "cannot create $img"
  # The serial names the slot inside the guest (/dev/disk/by-id/virtio-opsctl-diskN) whatever
  # order the kernel finds the disks in. Raw images written through the host page cache:
  # cache=unsafe only skips the guest's flushes, the data is in the file when qemu exits.
  qemu_opts+=(-drive "if=none,id=d$i,file=$img,format=raw,cache=unsafe,aio=threads"
              -device "virtio-blk-pci,drive=d$i,serial=opsctl-disk$i")
  slots+=("$i")
done
qemu_opts+=("${extra_qemu[@]}")

# --------------------------------------------------------------- guest side ----
# A script run by the guest's init: the caller's environment, the disks, the working
# directory, then the command; its exit status is the VM's.
{
  echo '#!/bin/bash'
  for name in $(compgen -e); do
    case $name in
      PWD|OLDPWD|SHLVL|_|HOSTNAME|SHELLOPTS|BASHOPTS|BASH_*|UID|EUID|PPID|TERM) continue ;;
    esac
    [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && printf 'export %s=%q\n' "$name" "${!name}"
  done
  echo 'export VMRAID_IN_VM=1 LVM_SUPPRESS_FD_WARNINGS=1 TERM=dumb'
  # Load md and dm before the command: tools like mdadm --create expect them.
  echo 'modprobe -a md_mod raid1 raid456 dm_mod || echo "[run-in-vm] modprobe failed" >&2'
  echo 'VMRAID_DISKS='
  for i in "${slots[@]}"; do
    cat <<EOF
link=/dev/disk/by-id/virtio-opsctl-disk$i
for _ in \$(seq 100); do [ -e \$link ] && break; udevadm settle -t 1 2>/dev/null || sleep 0.1; done
dev=\$(readlink -f \$link) && [ -b "\$dev" ] || { echo "[run-in-vm] disk $i did not appear" >&2; exit 125; }
export VMRAID_DISK$i=\$dev
VMRAID_DISKS="\$VMRAID_DISKS\${VMRAID_DISKS:+ }\$dev"
EOF
  done
  echo 'export VMRAID_DISKS'
  printf 'cd %q || exit 125\n' "$PWD"
  printf '%q ' "$@"; echo
  # sync: what the command wrote to the shared directory and the disks is on the host
  # when the VM powers off.
  echo 'rc=$?; sync; exit $rc'
} > "$WORK/guest.sh"
chmod 700 "$WORK/guest.sh"

vng_args=(--run "$KERNEL" --memory "$memory" --cpus "$cpus"
          --overlay-rwdir=/mnt --overlay-rwdir=/root --overlay-rwdir=/media
          --exec "bash $WORK/guest.sh")
[ ${#qemu_opts[@]} -gt 0 ] && vng_args+=(--qemu-opts="${qemu_opts[*]}")
if [ "$accel" = tcg ]; then
  # Under TCG qemu's CPU advertises VMX/SVM and udev would load kvm (seconds under TCG).
  vng_args+=(--disable-kvm --append "module_blacklist=kvm,kvm_intel,kvm_amd")
else
  vng_args+=(--disable-microvm)
fi
[ "$verbose" = 1 ] && vng_args+=(--verbose)
[ "$PWD" != / ] && vng_args+=(--rwdir="$PWD")
for d in "${rwdirs[@]}"; do vng_args+=(--rwdir="$d"); done

# virtme-ng looks for `virtiofsd` on PATH first: give it the adapter for Debian's C one.
mkdir "$WORK/bin" && ln -s "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/virtiofsd-adapter.sh" \
  "$WORK/bin/virtiofsd" || die "cannot set up the virtiofsd adapter"
export PATH="$WORK/bin:$CACHE/vm/bin:$PATH"
# qemu re-opens its stdout/stderr through /proc/self/fd with O_TRUNC when they are
# regular files (a redirected log would be clobbered): always give it pipes.
mkfifo "$WORK/out" "$WORK/err" || die "mkfifo failed"
cat "$WORK/out" & out_pid=$!
cat "$WORK/err" >&2 & err_pid=$!
log "booting $(basename "$KERNEL") ($accel, $cpus vCPU, $memory RAM, disks ${slots[*]:-none} in $diskdir)"
start=$SECONDS
# timeout(1) runs vng in its own process group (vng, qemu and virtiofsd) and signals the
# whole group when the time is up; 0 means no limit.
timeout -k 10 "$timeout" "$VNG" "${vng_args[@]}" </dev/null >"$WORK/out" 2>"$WORK/err" &
vm_group=$!
wait "$vm_group"; rc=$?
wait "$out_pid" "$err_pid" 2>/dev/null
kill -KILL -- "-$vm_group" 2>/dev/null   # anything of the VM's group still alive
vm_group=
[ "$rc" = 124 ] && log "timeout: stopped after ${timeout}s"
log "exit status $rc after $((SECONDS - start)) s"
exit "$rc"

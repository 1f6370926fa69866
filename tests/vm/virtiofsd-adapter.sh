#!/usr/bin/env bash
# virtiofsd for virtme-ng on Debian 12. virtme-ng speaks the command line of the Rust
# virtiofsd, which Debian 12 does not package; qemu-system-common ships the C virtiofsd
# (/usr/lib/qemu/virtiofsd) with a different one. The cloud kernel has no 9p, so the
# guest needs virtiofs: translate the options and exec the C daemon.
# tests/vm/run-in-vm.sh puts this on PATH as `virtiofsd`.
real=${OPSCTL_VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
socket='' shared='' cache=auto extra=()
while [ $# -gt 0 ]; do
  case $1 in
    -V|--version) exec "$real" --version ;;
    # virtme-ng reads --help to decide whether to pass --readonly: it is not offered
    # (the guest mounts the host root read-only with overlays on top anyway).
    -h|--help) echo "virtiofsd (opsctl adapter for the C virtiofsd)"; exit 0 ;;
    --socket-path) socket=$2; shift ;;
    --socket-path=*) socket=${1#*=} ;;
    --shared-dir) shared=$2; shift ;;
    --shared-dir=*) shared=${1#*=} ;;
    --cache) cache=$2; shift ;;
    --cache=*) cache=${1#*=} ;;
    --posix-acl) extra+=(-o posix_acl -o xattr) ;;
    --sandbox) shift ;;                     # the C daemon sandboxes with chroot below
    --sandbox=*|--syslog|--no-announce-submounts|--readonly) ;;
    *) echo "virtiofsd adapter: ignoring option $1" >&2 ;;
  esac
  shift
done
if [ -z "$socket" ] || [ -z "$shared" ]; then
  echo "virtiofsd adapter: --socket-path and --shared-dir are required" >&2
  exit 2
fi
# virtme-ng waits for <socket>.pid to appear; exec keeps this process id for the daemon.
echo $$ > "$socket.pid"
exec "$real" --socket-path="$socket" -o source="$shared" -o cache="$cache" \
  -o sandbox=chroot -o no_posix_lock -o no_flock -o log_level=err "${extra[@]}"

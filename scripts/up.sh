#!/usr/bin/env bash
# The main command: installs and builds Lodge, starts lodged in the background (if it is
# not running), builds the busybox and debian/12 images and launches a demo guest of each
# kind, then says how to reach them.
# Idempotent: run it again and it only starts what is not running.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

root=$(pwd)
ln -sf "$root/dist/src/cli/lodge.js" /usr/local/bin/lodge
ln -sf "$root/dist/src/daemon/main.js" /usr/local/bin/lodged
export LODGE_SOCKET=${LODGE_SOCKET:-/run/lodge/lodge.sock}
log=/var/log/lodge/lodged.log
mkdir -p /var/log/lodge

if ! lodge host >/dev/null 2>&1; then
  echo "lodge: starting lodged (log: $log)"
  setsid lodged --socket "$LODGE_SOCKET" >>"$log" 2>&1 < /dev/null &
  for _ in $(seq 100); do lodge host >/dev/null 2>&1 && break; sleep 0.1; done
  lodge host >/dev/null || { echo "lodge: lodged did not start; see $log" >&2; tail -n 20 "$log" >&2; exit 1; }
fi

for image in busybox debian/12; do
  lodge image list --format json | grep -q "\"name\": \"$image\"" || lodge image build "$image"
done
# launches NAME from IMAGE (with the given flags) unless it exists, and makes sure it runs
demo() {
  local image=$1 name=$2; shift 2
  local state
  state=$(lodge list --format json | node -e 'const g=JSON.parse(require("fs").readFileSync(0,"utf8")).find(g=>g.name===process.argv[1]); console.log(g?g.state:"none")' "$name")
  case "$state" in
    none) lodge launch "$image" "$name" "$@" ;;
    stopped|error) lodge start "$name" ;;
    paused) lodge resume "$name" ;;
  esac
}
demo busybox demo-ct --memory 256M --processes 500
demo busybox demo-pv --kind pv --memory 128M
demo debian/12 demo-vm --kind vm --memory 512M --cpu 2

cat <<MSG

Lodge is running (socket $LODGE_SOCKET, log $log).
  lodge list                      the guests
  lodge exec demo-ct -- ps        run a command in the demo container (ct)
  lodge exec -t demo-ct -- sh     a shell in it
  lodge console demo-ct           its console (Ctrl-] detaches)
  lodge exec demo-pv -- uname -a  the paravirtual guest (pv, User-Mode Linux)
  lodge console demo-pv           its console, where it booted its own kernel
  lodge exec demo-ct -- ping -c1 demo-pv
                                  guests find each other by name on the network "default"
  lodge console demo-vm           the virtual machine's serial console (vm, QEMU: Debian 12
                                  with systemd; log in as root, no password)
  lodge info demo-vm              its accelerator and why, devices, VNC socket, counters
  lodge --help                    everything else
MSG

#!/usr/bin/env bash
# The main command: installs and builds Lodge, starts lodged in the background (if it is
# not running), builds the busybox image and launches a demo guest, then says how to reach it.
# Idempotent: run it again and it only starts what is not running.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

root=$(pwd)
ln -sf "$root/dist/src/cli/main.js" /usr/local/bin/lodge
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

lodge image list --format json | grep -q '"name": "busybox"' || lodge image build busybox
# launches NAME from busybox (with the given flags) unless it exists, and makes sure it runs
demo() {
  local name=$1; shift
  local state
  state=$(lodge list --format json | node -e 'const g=JSON.parse(require("fs").readFileSync(0,"utf8")).find(g=>g.name===process.argv[1]); console.log(g?g.state:"none")' "$name")
  case "$state" in
    none) lodge launch busybox "$name" "$@" ;;
    stopped|error) lodge start "$name" ;;
    paused) lodge resume "$name" ;;
  esac
}
demo demo-ct --memory 256M --processes 500
demo demo-pv --kind pv --memory 128M
demo demo-vm --kind vm --memory 256M

cat <<MSG

Lodge is running (socket $LODGE_SOCKET, log $log).
  lodge list                      the guests
  lodge exec demo-ct -- ps        run a command in the demo container (ct)
  lodge exec -t demo-ct -- sh     a shell in it
  lodge console demo-ct           its console (Ctrl-] detaches)
  lodge exec demo-pv -- uname -a  the paravirtual guest (pv, User-Mode Linux)
  lodge console demo-pv           its console, where it booted its own kernel
  lodge console demo-vm           the virtual machine's serial console (vm, QEMU)
  lodge --help                    everything else
MSG

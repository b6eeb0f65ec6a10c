#!/usr/bin/env bash
# The main command: installs and builds Lodge, starts lodged in the background (if it is
# not running) with the web console on loopback (LODGE_LISTEN, default 127.0.0.1:8443),
# builds the busybox and debian/12 images and launches a demo guest of each kind, then says
# how to reach them, ending with the console's URL and, when no user exists yet, the
# password of a first admin (made by Lodge and shown this once).
# Idempotent: run it again and it only starts what is not running.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

root=$(pwd)
ln -sf "$root/dist/src/cli/lodge.js" /usr/local/bin/lodge
ln -sf "$root/dist/src/daemon/main.js" /usr/local/bin/lodged
export LODGE_SOCKET=${LODGE_SOCKET:-/run/lodge/lodge.sock}
listen=${LODGE_LISTEN:-127.0.0.1:8443}
log=/var/log/lodge/lodged.log
mkdir -p /var/log/lodge

if ! lodge host >/dev/null 2>&1; then
  if [ -d /run/systemd/system ] && systemctl is-enabled --quiet lodged 2>/dev/null; then
    # installed as a service (contrib/systemd/lodged.service): systemd runs it, its log is the journal
    echo "lodge: starting lodged (systemctl start lodged; log: journalctl -u lodged)"
    systemctl start lodged
  else
    echo "lodge: starting lodged (log: $log)"
    setsid lodged --socket "$LODGE_SOCKET" --listen "$listen" >>"$log" 2>&1 < /dev/null &
  fi
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
                                  with systemd; root is logged in on it, its password locked)
  lodge info demo-vm              its accelerator and why, devices, VNC socket, counters
  lodge --help                    everything else
MSG

# the web console: where lodged says it listens (a lodged started earlier without --listen has no console)
url=$(lodge host --format json | node -e '
  const l = JSON.parse(require("fs").readFileSync(0, "utf8")).listen;
  const host = !l ? "" : l.address === "0.0.0.0" || l.address === "::" ? require("os").hostname() : l.address.includes(":") ? `[${l.address}]` : l.address;
  console.log(l ? `https://${host}:${l.port}/` : "");')
if [ -z "$url" ]; then
  echo
  echo "The web console is off: this lodged was started without --listen (stop it, then run up.sh again)."
  exit 0
fi
echo
echo "Web console: $url  (certificate: self-signed unless given, its fingerprint in lodge host)"
if [ "$(lodge user list --format json)" = "[]" ]; then
  # the CLI says on stderr what it printed: here the line below says it
  err=$(mktemp)
  password=$(lodge user add admin 2>"$err") || { cat "$err" >&2; rm -f "$err"; exit 1; }
  rm -f "$err"
  echo "  log in as admin with the password $password"
  echo "  (shown this once: change it with lodge user passwd admin)"
fi

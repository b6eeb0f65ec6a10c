#!/usr/bin/env bash
# Installs what Lodge needs on Debian 12 (root, Node 20, npm) and builds it.
# Idempotent: a second run installs nothing new and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# runc: the OCI runtime of ct guests; criu: probed for stateful ct snapshots (refused with its reason where its check fails); user-mode-linux: the kernel of pv guests;
# qemu-system-x86, seabios, qemu-utils: the engine, its firmware and the disks of vm guests (their kernel is fetched with apt-get download);
# busybox-static: the busybox image; debootstrap: the debian/12 image; e2fsprogs: ext4
# files (pv base disks, container roots on dir pools); btrfs-progs: btrfs storage pools; gcc/make/libc6-dev: lodge-shim, the console holder;
# attr, acl, libcap2-bin: the tests of backed-up extended attributes set and read them (setfattr, setfacl, setcap);
# openssl: the self-signed certificate of lodged --listen; chromium: the web console's tests drive it headless (playwright-core; the registry's browser download is unreachable)
# xz-utils, zstd: xz and zstd rootfs tarballs are decompressed by their programs (bounded, in a child, not in lodged's heap)
# prometheus: the real client of GET /1.0/metrics in the tests (promtool check metrics, and a Prometheus that scrapes lodged)
packages=(runc criu user-mode-linux qemu-system-x86 seabios qemu-utils grub-pc-bin grub-common xorriso dnsmasq-base nftables busybox-static debootstrap e2fsprogs btrfs-progs gcc make libc6-dev procps util-linux iproute2 curl attr acl libcap2-bin openssl chromium prometheus xz-utils zstd)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "lodge: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# the package enables and starts a Prometheus service where systemd runs: the tests start their own, on their own port and data
if [ -d /run/systemd/system ] && systemctl is-enabled --quiet prometheus 2>/dev/null; then
  systemctl disable --now prometheus >/dev/null 2>&1
fi

# native modules (better-sqlite3, node-pty) build from source: keep node_modules when the lockfile has not changed
stamp=node_modules/.lodge-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "lodge: installing npm packages (native modules compile the first time: about two minutes)"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

# rebuild only when a source is newer than the last build
stamp=dist/.build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find src test bench shim package.json tsconfig.json -newer "$stamp" -print -quit)" ]; then
  npm run --silent build
  touch "$stamp"
fi

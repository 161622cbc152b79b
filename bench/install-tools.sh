#!/usr/bin/env bash
# Installs the tools the benchmarks compare shoal with (Debian/Ubuntu, apt-get); idempotent:
# only missing packages are installed. rsync, aria2 and hyperfine are for the network scenarios;
# iproute2 (ip netns, tc) for the network-namespace variant of clone-3-seeders (run as root).
set -euo pipefail

# package:command pairs; the command tells whether the package is already there.
tools=(
  git:git
  git-lfs:git-lfs
  restic:restic
  borgbackup:borg
  casync:casync
  rsync:rsync
  aria2:aria2c
  hyperfine:hyperfine
  iproute2:tc
  time:/usr/bin/time
  coreutils:dd
)

missing=()
for t in "${tools[@]}"; do
  pkg=${t%%:*}
  cmd=${t#*:}
  if ! command -v "$cmd" >/dev/null 2>&1; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "all benchmark tools are installed"
else
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get not found: install these packages with your package manager: ${missing[*]}" >&2
    exit 1
  fi
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  echo "installing: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

git --version
git lfs version
restic version
borg --version
casync --version
rsync --version | sed -n 1p
aria2c --version | sed -n 1p

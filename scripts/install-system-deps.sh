#!/usr/bin/env bash
# Installs the Debian packages tsbuild's tests and demo need, when missing (see DESIGN.md).
set -euo pipefail

packages=(bsdutils bzip2 xz-utils gcc libc6-dev make docker-registry busybox-static crun runc uidmap skopeo umoci iproute2 iptables apache2-utils openssl zstd)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: missing ${missing[*]}; run this script as root" >&2
  exit 1
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"

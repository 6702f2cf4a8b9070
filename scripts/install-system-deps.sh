#!/usr/bin/env bash
# Installs the Debian packages tsbuild's tests and demo need, when missing (see DESIGN.md).
set -euo pipefail

# docker.io: the engine the docker load/save interop tests start on a private socket.
# openssh-client: ssh-agent, ssh-keygen and ssh-add for the RUN --mount=type=ssh tests; libzstd-dev: the zstd compressor of native/; libxxhash-dev: its context hasher.
# slirp4netns: rootless containers' network (it opens /dev/net/tun, which is 0666 on an ordinary
# Debian machine; some containers of machines make it 0600, which only root may open).
packages=(bsdutils bzip2 xz-utils gcc libc6-dev make docker-registry busybox-static crun runc uidmap skopeo umoci iproute2 iptables apache2-utils openssl zstd libzstd-dev libxxhash-dev openssh-client docker.io slirp4netns)
if [ "$(id -u)" -eq 0 ] && [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then chmod 0666 /dev/net/tun; fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: missing ${missing[*]}; run this script as root" >&2
  exit 1
fi

# Packaged servers (docker.io's engine and containerd) would start machine-wide on install where
# nothing forbids it; tests start their own on private sockets. A policy already in place is kept.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"

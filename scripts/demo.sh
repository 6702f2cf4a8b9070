#!/usr/bin/env bash
# The README's main command: builds examples/hello (a multi-stage image on a busybox base made
# here from Debian's busybox-static, offline) and runs it. Run after `npm ci`; as root the store
# is /var/lib/tsbuild, otherwise ~/.local/share/tsbuild (or TSBUILD_ROOT).
set -euo pipefail
cd "$(dirname "$0")/.."
tsbuild=(node bin/tsbuild.js)
if ! "${tsbuild[@]}" images --quiet busybox 2>/dev/null | grep -q .; then
  echo "making the busybox base image from /bin/busybox (busybox-static)"
  npx tsx scripts/make-busybox-image.ts ${TSBUILD_ROOT:+--root "$TSBUILD_ROOT"}
fi
"${tsbuild[@]}" build -t hello examples/hello
"${tsbuild[@]}" run --rm hello

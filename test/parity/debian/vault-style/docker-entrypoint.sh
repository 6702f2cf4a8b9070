#!/usr/bin/dumb-init /bin/sh
set -e
if [ "$(id -u)" = '0' ]; then
	chown -R vault:vault /vault/config /vault/logs /vault/file || true
	exec setpriv --reuid=vault --regid=vault --init-groups "$0" "$@"
fi
exec "$@"

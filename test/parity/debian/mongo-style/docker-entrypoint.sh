#!/bin/bash
set -Eeuo pipefail
if [ "${1:0:1}" = '-' ]; then
	set -- mongod "$@"
fi
if [ "$1" = 'mongod' ] && [ "$(id -u)" = '0' ]; then
	find /data/configdb /data/db \! -user mongodb -exec chown mongodb '{}' +
	exec setpriv --reuid=mongodb --regid=mongodb --init-groups "$BASH_SOURCE" "$@"
fi
exec "$@"

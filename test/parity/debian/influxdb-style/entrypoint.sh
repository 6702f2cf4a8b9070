#!/bin/bash
set -eo pipefail
if [ "$(id -u)" = 0 ]; then
	find /var/lib/influxdb2 /etc/influxdb2 \! -user influxdb -exec chown influxdb '{}' +
	exec setpriv --reuid=influxdb --regid=influxdb --init-groups "$0" "$@"
fi
exec "$@"

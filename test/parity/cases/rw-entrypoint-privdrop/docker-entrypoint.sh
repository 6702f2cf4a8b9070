#!/bin/sh
set -e
# Drops root as the docker-library entrypoints do, after fixing the data directory's owner.
if [ "$1" = 'server' ] && [ "$(id -u)" = '0' ]; then
	find "$DATA_DIR" \! -user app -exec chown app '{}' +
	exec su -s /bin/sh app -c "exec $0 $*"
fi
exec "$@"

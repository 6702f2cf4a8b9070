#!/bin/sh
set -e
if [ "$1" = "redis-server" -a "$(id -u)" = "0" ]; then
  find . \! -user redis -exec chown redis "{}" +
  exec gosu redis "$0" "$@"
fi
exec "$@"

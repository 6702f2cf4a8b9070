#!/bin/sh
set -e
if [ "$1" = 'agent' ]; then
  set -- consul "$@"
fi
exec "$@"

#!/bin/bash
set -eo pipefail
exec "$@"

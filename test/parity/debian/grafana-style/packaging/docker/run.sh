#!/bin/bash -e
exec grafana server --homepath="$GF_PATHS_HOME" --config="$GF_PATHS_CONFIG" "$@"

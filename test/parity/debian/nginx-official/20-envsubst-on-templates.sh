#!/bin/sh
set -e
envsubst < /dev/null

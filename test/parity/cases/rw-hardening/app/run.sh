#!/bin/busybox sh
echo run

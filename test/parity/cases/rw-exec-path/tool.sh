#!/bin/sh
echo "$0 $*" >> /tmp/mytool.log

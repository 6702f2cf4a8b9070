#!/bin/sh
exec java -jar jenkins.war

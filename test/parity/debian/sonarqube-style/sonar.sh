#!/bin/bash
exec java -jar lib/sonarqube.jar "$@"

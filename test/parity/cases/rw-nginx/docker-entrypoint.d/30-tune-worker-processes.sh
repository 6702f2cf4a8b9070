#!/bin/sh
echo tune

#!/bin/sh
echo listen

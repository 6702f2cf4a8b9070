#!/bin/sh
# Writes its first line, then waits on a fifo without forking; a writer that outlived its step
# would wake when a later step opens the fifo, and say so in its log.
log="$1.log"
mkfifo "$1.fifo"
echo "started $1" > "$log"
read -r line < "$1.fifo"
echo "woke $line" >> "$log"
echo woke > "$1.woke"

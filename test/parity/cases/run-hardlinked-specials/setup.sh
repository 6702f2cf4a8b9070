mkdir -p ctx
echo f > ctx/file
ln -s file ctx/sym
ln ctx/sym ctx/sym-hard
mkfifo ctx/fifo
ln ctx/fifo ctx/fifo-hard

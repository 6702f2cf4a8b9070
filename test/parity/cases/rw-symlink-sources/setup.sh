mkdir -p real/sub
echo r > real/file
echo s > real/sub/s
ln -s real ctx-link-dir
ln -s real/file ctx-link-file
ln -s sub real/sub-link

mkdir -p t/tdir && echo x > t/tdir/x
tar -C t --mtime='2021-02-03 04:05:06' --sort=name --owner=0 --group=0 --numeric-owner -cf files.tar tdir
rm -rf t

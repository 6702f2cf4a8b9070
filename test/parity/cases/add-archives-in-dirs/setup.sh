mkdir -p bundle/sub pkgs t1/one t2/two t3/etc/app
echo one > t1/one/file
echo two > t2/two/file
echo conf > t3/etc/app/app.conf
echo extra > t3/etc/extra
tar -C t1 --mtime='2021-02-03 04:05:06' --sort=name --owner=0 --group=0 --numeric-owner -cf bundle/inner.tar one
tar -C t2 --mtime='2021-02-03 04:05:06' --sort=name --owner=0 --group=0 --numeric-owner -cf bundle/sub/inner2.tar two
tar -C t1 --mtime='2021-02-03 04:05:06' --sort=name --owner=0 --group=0 --numeric-owner -cf pkgs/a.tar one
tar -C t2 --mtime='2021-02-03 04:05:06' --sort=name --owner=0 --group=0 --numeric-owner -cf pkgs/b.tar two
tar -C t3 --mtime='2021-02-03 04:05:06' --sort=name --owner=0 --group=0 --numeric-owner -cf pkgs/etc.tar etc
rm -rf t1 t2 t3

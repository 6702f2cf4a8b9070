# plugins.tar.zst is committed as it is: a zstd tool may not be where the corpus runs.
mkdir -p r/app-1.2.3/bin r/app-1.2.3/lib d/html v/state n/x
echo bin > r/app-1.2.3/bin/app; chmod 755 r/app-1.2.3/bin/app
echo lib > r/app-1.2.3/lib/libapp.so
echo index > d/html/index.html
echo s > v/state/db
echo x > n/x/file
tar -C r --mtime='2022-03-04 05:06:07' --sort=name --owner=1001 --group=1001 --numeric-owner -czf release-1.2.3.tgz app-1.2.3
tar -C d --mtime='2022-03-04 05:06:07' --sort=name --owner=0 --group=0 --numeric-owner -cjf docs.tar.bz2 .
tar -C v --mtime='2022-03-04 05:06:07' --sort=name --owner=0 --group=0 --numeric-owner -cJf data.tar.xz ./state
tar -C n --mtime='2022-03-04 05:06:07' --sort=name --owner=0 --group=0 --numeric-owner -cf noprefix.tar x
rm -rf r d v n

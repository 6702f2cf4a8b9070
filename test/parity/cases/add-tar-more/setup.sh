mkdir -p t/d
echo f > t/d/f
chmod 640 t/d/f
ln t/d/f t/hard
ln -s d t/dirlink
tar -C t --mtime='2021-02-03 04:05:06' --sort=name --owner=7 --group=9 --numeric-owner -cf plain.tar d hard dirlink
tar -C / --mtime='2021-02-03 04:05:06' --owner=0 --group=0 --numeric-owner -cf devices.tar dev/null dev/zero
mkdir -p n/usr/local/share/app
echo app > n/usr/local/share/app/file
tar -C n --mtime='2021-02-03 04:05:06' --sort=name --owner=0 --group=0 --numeric-owner -czf nested.tar.gz usr
rm -rf t n

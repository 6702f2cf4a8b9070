mkdir -p t/dir/sub t/empty
echo hello > t/dir/file
echo sub > t/dir/sub/s
ln -s file t/dir/link
ln -s /etc/passwd t/abs
ln t/dir/file t/dir/hard
chmod 4755 t/dir/sub/s
chmod 1777 t/empty
tar -C t --mtime='2021-02-03 04:05:06' --sort=name --owner=123 --group=456 --numeric-owner -cf plain.tar .
tar -C t --mtime='2021-02-03 04:05:06' --sort=name --owner=123 --group=456 --numeric-owner -czf archive.tar.gz dir abs
tar -C t --mtime='2021-02-03 04:05:06' --sort=name --owner=123 --group=456 --numeric-owner -cJf archive.tar.xz dir empty
printf 'not a tar\n' | gzip -n > notatar.gz
mkdir -p w/sub
touch w/.wh.group w/sub/.wh..wh..opq
echo new > w/added
tar -C w --mtime='2021-02-03 04:05:06' --sort=name --owner=0 --group=0 --numeric-owner -cf whiteouts.tar .
rm -rf t w

mkdir -p t/file t/keepdir t/link
echo now-a-file > t/dir
echo inside > t/file/inside
echo added > t/keepdir/added
echo l > t/link/l
chmod 750 t/keepdir
tar -C t --mtime='2021-02-03 04:05:06' --sort=name --owner=0 --group=0 --numeric-owner -cf replace.tar dir file keepdir link
rm -rf t
